"""Bodies read in full up to the cap, however the server chunks them (a 300 KB feed was cut at ~128 KB)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from producers.fulltext.fetcher import PageFetcher
from producers.fulltext.policy import FulltextOptions, Outcome
from producers.http_body import read_at_most

BODY = b"<html><body><p>" + b"x" * (1024 * 1024) + b"</p></body></html>"


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(BODY), 8192):
            await response.write(BODY[start : start + 8192])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/chunked", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_read_at_most_reads_everything_or_one_byte_past_the_cap(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/chunked") as response:
            assert await read_at_most(response.content, 2 * len(BODY)) == BODY
        async with session.get(f"{base}/chunked") as response:
            assert len(await read_at_most(response.content, 100_000)) == 100_001


async def test_a_page_without_content_length_over_the_cap_is_too_large(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        fetcher = PageFetcher(session, FulltextOptions(max_bytes=512 * 1024, host_delay_s=0.0))
        fetched = await fetcher.fetch(f"{base}/chunked")
        assert (fetched.failure, fetched.detail) == (Outcome.TOO_LARGE, f"larger than {512 * 1024} bytes")
        assert (
            await PageFetcher(session, FulltextOptions(host_delay_s=0.0)).fetch(f"{base}/chunked")
        ).content == BODY
