"""e2e fixtures: a signature-checking webhook receiver and a private deployment with a rule and a spike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.model.settings import Settings
from tests.e2e.harness import RULE, SECRET, SPIKE, Pipeline, base_watchlist
from tests.e2e.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(SECRET).start()
    yield hook
    hook.stop()


@pytest.fixture
def pipeline(
    stack_settings: Settings, stack_dir: Path, tmp_path: Path, receiver: Receiver
) -> Iterator[Pipeline]:
    watchlist = base_watchlist({"rules": [RULE], "spikes": [SPIKE]}, receiver.url)
    deployment = Pipeline(stack_settings, tmp_path, stack_dir, watchlist)
    yield deployment
    deployment.close()
