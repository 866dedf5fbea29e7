"""NEWSMON_STORY_HORIZON: three days by default, an ISO 8601 duration, at least a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from streams.model.settings import Settings


def horizon(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> timedelta:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None).story_horizon  # type: ignore[call-arg]


def test_the_story_horizon_is_three_days_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSMON_STORY_HORIZON", raising=False)
    assert horizon({}, monkeypatch) == timedelta(days=3)
    assert horizon({"NEWSMON_STORY_HORIZON": "PT2H"}, monkeypatch) == timedelta(hours=2)
    assert horizon({"NEWSMON_STORY_HORIZON": "P1D"}, monkeypatch) == timedelta(days=1)


def test_a_horizon_under_a_minute_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="story_horizon"):
        horizon({"NEWSMON_STORY_HORIZON": "PT30S"}, monkeypatch)
