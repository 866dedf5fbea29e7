"""sd_notify datagrams on a socket the test owns; the probe's READY/WATCHDOG loop with fixed verdicts."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from streams.worker.health import Verdict
from streams.worker.health_probe import HealthProbe, watchdog_interval
from streams.worker.sd_notify import Notifier


def bound(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    return sock


def test_datagrams_reach_the_socket(tmp_path: Path) -> None:
    sock = bound(tmp_path / "notify")
    notifier = Notifier(str(tmp_path / "notify"))
    assert notifier.send("READY=1", "STATUS=consuming")
    assert sock.recv(4096) == b"READY=1\nSTATUS=consuming"
    notifier.close()
    sock.close()


def test_an_abstract_socket_is_addressed_with_a_nul_byte() -> None:
    assert Notifier("@newsmon-test").address == "\0newsmon-test"
    assert not Notifier(None).enabled and not Notifier(None).send("READY=1")


def test_a_missing_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert not Notifier(str(tmp_path / "absent")).send("WATCHDOG=1")


def test_a_reader_that_lags_never_blocks_the_sender(tmp_path: Path) -> None:
    sock = bound(tmp_path / "notify")  # never read: its queue fills after max_dgram_qlen datagrams
    notifier = Notifier(str(tmp_path / "notify"))
    sent = [notifier.send("WATCHDOG=1") for _ in range(200)]
    assert sent[0] and not sent[-1]  # the excess is dropped (and logged once), not waited for
    notifier.close()
    sock.close()


def test_the_watchdog_pings_at_half_watchdog_sec() -> None:
    assert (watchdog_interval(30_000_000), watchdog_interval(None)) == (15.0, 5.0)


class Verdicts:
    """HealthProbe's two verdicts, scripted."""

    def __init__(self, live: list[bool], ready: bool) -> None:
        self.lives = live
        self.is_ready = ready

    def live(self) -> Verdict:
        ok = self.lives.pop(0) if len(self.lives) > 1 else self.lives[0]
        return Verdict(True) if ok else Verdict(False, ("agent newsmon.tag died",))

    def ready(self) -> Verdict:
        return Verdict(self.is_ready)


async def test_ready_once_then_watchdog_while_live_and_the_status_when_not(tmp_path: Path) -> None:
    sock = bound(tmp_path / "notify")
    sock.setblocking(False)
    notifier = Notifier(str(tmp_path / "notify"))
    verdicts = Verdicts([True, True, False, False], ready=True)
    task = asyncio.create_task(HealthProbe.notify_forever(verdicts, notifier, 0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    task.cancel()
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            break
    # Live twice (READY after the first WATCHDOG), then nothing but the status while not live.
    assert got == [
        "WATCHDOG=1", "READY=1", "STATUS=consuming", "WATCHDOG=1", "STATUS=not live: agent newsmon.tag died",
    ]  # fmt: skip
    sock.close()
