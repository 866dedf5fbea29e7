"""A webhook receiver for e2e tests: verifies every signature and records deliveries by webhook-id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from streams.webhooks import verify


@dataclass
class Receiver:
    """Counts deliveries per webhook-id; `failing` makes it answer 500 (a receiver in trouble)."""

    secret: str
    port: int = 0
    failing: bool = False
    bodies: dict[str, Any] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    refused: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
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

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
