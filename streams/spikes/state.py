"""What a spike detector remembers per entity (SpikeState), as the Redis hash fields it lives in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_STATE_FIELDS = ("first_seen", "firing", "since", "last_fired")


@dataclass(frozen=True, slots=True)
class SpikeState:
    """What one detector remembers about one entity; lives in a Redis hash so any worker can take over.

    ``first_seen``: stream time the detector started watching (warm-up origin; seeded on the first
    ``step`` unless the caller sets it, e.g. to the stream's first event time).
    ``since``: window start of the current or last firing (part of both of its alert ids).
    ``last_fired``: stream time of the current or last firing (its ``starts_at``; cooldown origin).
    """

    first_seen: int | None = None
    firing: bool = False
    since: int | None = None
    last_fired: int | None = None

    def to_dict(self) -> dict[str, str]:
        """Redis hash fields; ``""`` stands for None."""
        return {
            "first_seen": _int_text(self.first_seen),
            "firing": "1" if self.firing else "0",
            "since": _int_text(self.since),
            "last_fired": _int_text(self.last_fired),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str] | Mapping[bytes, bytes]) -> SpikeState:
        """Inverse of ``to_dict``; accepts redis-py's bytes too; an empty hash is a fresh state."""
        text = {_text(key): _text(value) for key, value in data.items()}
        unknown = set(text) - set(_STATE_FIELDS)
        if unknown:
            raise ValueError(f"unknown spike state fields: {sorted(unknown)}")
        firing = text.get("firing", "0")
        if firing not in ("0", "1"):
            raise ValueError(f"spike state field firing must be 0 or 1, not {firing!r}")
        return cls(
            first_seen=_int_or_none(text, "first_seen"),
            firing=firing == "1",
            since=_int_or_none(text, "since"),
            last_fired=_int_or_none(text, "last_fired"),
        )


def _int_text(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _int_or_none(text: Mapping[str, str], key: str) -> int | None:
    value = text.get(key, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"spike state field {key} must be an integer, not {value!r}") from None
