"""The HTTP ingest endpoint, with aiohttp's test client and a fake publisher."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from producers.ids import article_id
from producers.ingest import make_app
from producers.intake import Intake
from producers.metrics import ProducerMetrics
from producers.publisher import BufferFull
from producers.validate import encode_article
from streams.model.article import Article

NDJSON = {"Content-Type": "application/x-ndjson"}


class FakePublisher:
    def __init__(self, max_bytes: int = 2000) -> None:
        self.sent: list[Article] = []
        self.max_bytes = max_bytes
        self.full = False

    def send(self, article: Article) -> None:
        if self.full:
            raise BufferFull("full")
        encode_article(article, self.max_bytes)
        self.sent.append(article)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(publisher: FakePublisher) -> AsyncIterator[TestClient[object, object]]:
    metrics = ProducerMetrics(CollectorRegistry())
    app = make_app(
        Intake(publisher, metrics, default_source="http"), max_article_bytes=2000, max_body_bytes=20_000
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_healthz(client: TestClient[object, object]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_one_json_object_is_accepted(
    client: TestClient[object, object], publisher: FakePublisher
) -> None:
    payload = {"url": "https://example.com/a?utm_source=x", "title": "كارتر في أنقرة", "body": "نص"}
    response = await client.post("/articles", json=payload)
    assert response.status == 202
    expected_id = article_id("https://example.com/a", "", "")
    assert await response.json() == {"ids": [expected_id]}
    assert publisher.sent[0].source == "http" and publisher.sent[0].title == "كارتر في أنقرة"


async def test_json_lines_are_accepted_in_order(
    client: TestClient[object, object], publisher: FakePublisher
) -> None:
    body = b"\n".join(orjson.dumps({"id": f"id-{n}", "title": f"t{n}"}) for n in range(3)) + b"\n\n"
    response = await client.post("/articles", data=body, headers=NDJSON)
    assert response.status == 202
    assert (await response.json())["ids"] == ["id-0", "id-1", "id-2"]
    assert [a.id for a in publisher.sent] == ["id-0", "id-1", "id-2"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{oops", "invalid_json"),
        (b'{"title": "\xff"}', "invalid_utf8"),
        (b'{"title": "", "body": " "}', "empty"),
        (b'"just a string"', "not_an_object"),
        (b'{"title": ["list"]}', "invalid_fields"),
    ],
)
async def test_bad_single_object_is_400_with_reason(
    client: TestClient[object, object], publisher: FakePublisher, body: bytes, reason: str
) -> None:
    response = await client.post("/articles", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == reason and answer["detail"] and "line" not in answer
    assert publisher.sent == []


async def test_bad_json_line_is_400_with_line_number_and_nothing_published(
    client: TestClient[object, object], publisher: FakePublisher
) -> None:
    body = b'{"id": "a", "title": "ok"}\n\n{"id": "b", "title": \n{"id": "c", "title": "ok"}\n'
    response = await client.post("/articles", data=body, headers=NDJSON)
    assert response.status == 400
    answer = await response.json()
    assert answer["line"] == 3 and answer["error"] == "invalid_json"
    assert publisher.sent == []


async def test_oversize_article_is_413(client: TestClient[object, object], publisher: FakePublisher) -> None:
    response = await client.post("/articles", json={"title": "t", "body": "x" * 3000})
    assert response.status == 413
    assert (await response.json())["error"] == "oversize"
    lines = orjson.dumps({"title": "fine"}) + b"\n" + orjson.dumps({"title": "t", "body": "x" * 3000})
    response = await client.post("/articles", data=lines, headers=NDJSON)
    assert response.status == 413 and (await response.json())["line"] == 2
    assert publisher.sent == []


async def test_oversize_body_is_413(client: TestClient[object, object]) -> None:
    response = await client.post("/articles", data=b"x" * 30_000, headers=NDJSON)
    assert response.status == 413
    assert (await response.json())["error"] == "oversize"


async def test_full_buffer_is_503(client: TestClient[object, object], publisher: FakePublisher) -> None:
    publisher.full = True
    response = await client.post("/articles", json={"title": "t"})
    assert response.status == 503


async def test_bad_date_is_dropped_not_refused(
    client: TestClient[object, object], publisher: FakePublisher
) -> None:
    response = await client.post("/articles", json={"title": "t", "published_at": "2016-10-22 10:00"})
    assert response.status == 202 and publisher.sent[0].published_at is None
