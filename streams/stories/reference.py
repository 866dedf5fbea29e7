"""The story sketch in plain Python: the specification that streams/stories/_sketch.c implements fast."""

from __future__ import annotations

from streams.matching.normalize import internal_form

MASK64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x00000100000001B3
SHINGLE_BASE = 0x9E3779B97F4A7C15
BORROW_STEP = 0x9E3779B1


def mix(h: int) -> int:
    """splitmix64's finalizer: every input bit reaches every output bit."""
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK64
    return h ^ (h >> 31)


def token_hash(token: bytes) -> int:
    """FNV-1a, 64 bits, over the token's internal-form bytes."""
    h = FNV_OFFSET
    for byte in token:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def shingle_hashes(internal: bytes, shingle: int) -> list[int]:
    """Hashes of every run of `shingle` consecutive tokens: a polynomial of token hashes, mixed."""
    words = [token_hash(t) for t in internal.split()]
    out = []
    for i in range(len(words) - shingle + 1):
        h = words[i]
        for w in words[i + 1 : i + shingle]:
            h = (h * SHINGLE_BASE + w) & MASK64
        out.append(mix(h))
    return out


def signature(internal: bytes, shingle: int, slots: int) -> tuple[bytes, int]:
    """(signature, filled bins): the top bits of a shingle hash pick its bin, the low 32 bits compete
    for the bin's minimum; an empty bin borrows the next filled one's value plus BORROW_STEP per step."""
    bits = slots.bit_length() - 1
    minimum: dict[int, int] = {}
    for h in shingle_hashes(internal, shingle):
        b, value = h >> (64 - bits), h & 0xFFFFFFFF
        minimum[b] = min(value, minimum.get(b, value))
    if not minimum:
        return b"", 0
    out = bytearray()
    for slot in range(slots):
        step = 0
        while (slot + step) % slots not in minimum:
            step += 1
        value = (minimum[(slot + step) % slots] + step * BORROW_STEP) & 0xFFFFFFFF
        out += value.to_bytes(4, "big")
    return bytes(out), len(minimum)


def bands(signature: bytes, rows: int, count: int) -> bytes:
    """Each band's key: its number (one byte), then its `rows` slots hashed to 64 bits, big-endian."""
    out = bytearray()
    for band in range(count):
        h = 0
        for r in range(rows):
            start = 4 * (band * rows + r)
            h = mix((h * SHINGLE_BASE + int.from_bytes(signature[start : start + 4], "big")) & MASK64)
        out += bytes((band,)) + h.to_bytes(8, "big")
    return bytes(out)


def sketch_text(body: str, shingle: int, slots: int) -> tuple[bytes, int]:
    """The reference signature of an article body."""
    return signature(internal_form(body), shingle, slots)
