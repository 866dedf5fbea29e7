"""systemd's notify protocol: one datagram per state change on $NOTIFY_SOCKET (sd_notify(3))."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends `READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…` to systemd; does nothing without a socket."""

    def __init__(self, socket_path: str | None) -> None:
        # An abstract socket is given as "@name" and addressed with a leading NUL byte.
        self.address = (
            None if not socket_path else "\0" + socket_path[1:] if socket_path[0] == "@" else socket_path
        )
        self._sock: socket.socket | None = None
        self._failing = False  # log a failure once, not at every watchdog ping

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """One datagram of newline-separated VAR=value lines; False (logged) if it could not be sent."""
        if self.address is None:
            return False
        if self._sock is None:
            # Non-blocking: a unix datagram socket whose reader lags (its queue holds
            # net.unix.max_dgram_qlen, 10, datagrams) blocks the sender, here the event loop. A
            # ping dropped is better than a loop that stops, and the next one follows.
            kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
            self._sock = socket.socket(socket.AF_UNIX, kind)
        try:
            self._sock.sendto("\n".join(assignments).encode(), self.address)
        except OSError as err:
            if not self._failing:
                log.warning("sd_notify to %r failed (%s); logged again once it recovers", self.address, err)
            self._failing = True
            return False
        if self._failing:
            log.info("sd_notify to %r works again", self.address)
        self._failing = False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
