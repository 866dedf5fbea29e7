"""Fixtures for the fault and bad-input tests: a private deployment per test, a receiver, a healthy stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from streams.model.settings import Settings
from tests.e2e.harness import RULE, SECRET, SPIKE, Pipeline, base_watchlist
from tests.reliability.faults import FlakyReceiver, ensure_stack_up


@pytest.fixture(autouse=True)
def healthy_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on the stack starts and ends with Kafka, Redis and Prometheus up, even when it
    fails half-way (hermetic tests here don't touch the stack)."""
    if "stack_settings" not in request.fixturenames:
        yield
        return
    ensure_stack_up()
    yield
    ensure_stack_up()


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    hook = FlakyReceiver(SECRET)
    hook.start()
    yield hook
    hook.stop()


def watchlist_for(url: str, **webhook: Any) -> dict[str, Any]:
    data = base_watchlist({"rules": [RULE], "spikes": [SPIKE]}, url)
    data["webhooks"]["e2e"].update(webhook)
    return data


@pytest.fixture
def deploy(
    stack_settings: Settings, stack_dir: Path, tmp_path: Path, receiver: FlakyReceiver
) -> Iterator[Callable[..., Pipeline]]:
    """deploy(watchlist=None, env=None) -> a Pipeline (closed afterwards); default: rule + spike + receiver."""
    made: list[Pipeline] = []

    def make(watchlist: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Pipeline:
        workdir = tmp_path / f"p{len(made)}"
        workdir.mkdir()
        pipeline = Pipeline(stack_settings, workdir, stack_dir, watchlist or watchlist_for(receiver.url))
        pipeline.env.update(env or {})
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        for name, (proc, _, _) in list(pipeline.workers.items()):
            if proc.poll() is None:
                pipeline.stop_worker(name, kill=True)
            else:  # it crashed: stop_worker's killpg would raise ProcessLookupError
                pipeline.workers.pop(name)
                (pipeline.stack_dir / "targets" / f"e2e-{pipeline.tag}-{name}.json").unlink(missing_ok=True)
        pipeline.close()
