"""A webhook receiver for e2e tests, on its own thread: verifies every signature, counts per webhook-id."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from aiohttp import web

from streams.webhooks.signing import verify


class Receiver:
    """Counts deliveries per webhook-id; `failing` answers 500; `down()`/`up()` close and reopen the port."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.port = 0
        self.failing = False
        self.bodies: dict[str, Any] = {}
        self.deliveries: Counter[str] = Counter()
        self.rejected = 0
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failing:
            self.refused += 1
            return web.Response(status=500, text="receiver failing on purpose")
        try:
            payload = verify(body, request.headers, self.secret)
        except ValueError as err:
            self.rejected += 1
            return web.Response(status=401, text=str(err))
        webhook_id = request.headers["webhook-id"]
        self.deliveries[webhook_id] += 1
        self.bodies[webhook_id] = payload
        return web.Response(status=204)

    async def _up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def _down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _call(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def start(self) -> Receiver:
        self._thread.start()
        self._call(self._up())
        return self

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def stop(self) -> None:
        self._call(self._down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def by_kind(self, kind: str) -> dict[str, Any]:
        return {wid: body for wid, body in dict(self.bodies).items() if body["newsmon"]["kind"] == kind}
