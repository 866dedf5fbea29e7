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

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """One datagram of newline-separated VAR=value lines; False (logged) if it could not be sent."""
        if self.address is None:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.sendto("\n".join(assignments).encode(), self.address)
        except OSError as err:
            log.warning("sd_notify %s to %r failed: %s", assignments, self.address, err)
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
