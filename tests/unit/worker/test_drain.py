"""The drain deadline: begun once when the app starts stopping; past it the process exits with 75."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from streams.worker.drain import DRAIN_TIMED_OUT, DrainDeadline, begin_on_stop
from streams.worker.sd_notify import Notifier

ROOT = Path(__file__).resolve().parents[3]


class StoppingApp:
    should_stop = False


async def test_the_deadline_begins_when_the_app_starts_stopping() -> None:
    app, deadline = StoppingApp(), DrainDeadline(3600.0, Notifier(None))
    watcher = asyncio.create_task(begin_on_stop(app, deadline, poll=0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert deadline.began is None
    app.should_stop = True
    await asyncio.wait_for(watcher, 1.0)
    began = deadline.began
    deadline.begin()  # a second SIGTERM does not restart the clock
    assert began is not None and deadline.began == began


def test_a_drain_past_the_deadline_exits_with_its_status() -> None:
    code = (
        "import time\n"
        "from streams.worker.drain import DrainDeadline\n"
        "from streams.worker.sd_notify import Notifier\n"
        "DrainDeadline(0.1, Notifier(None)).begin()\n"
        "time.sleep(30)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=20)
    assert result.returncode == DRAIN_TIMED_OUT == 75
