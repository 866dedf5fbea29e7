"""Story sketches: normalized body -> word shingles -> one-permutation MinHash signature -> LSH band keys."""

from __future__ import annotations

from dataclasses import dataclass

from streams.matching.normalize import internal_form
from streams.stories import _sketch


@dataclass(frozen=True, slots=True)
class SketchParams:
    """How texts are sketched and compared; every worker and `streams.tag --stories` must agree."""

    shingle: int = 5  # words per shingle
    slots: int = 128  # signature length (a power of two: a shingle's bin is its hash's top bits)
    rows: int = 4  # signature slots per LSH band
    bands: int = 32  # bands * rows <= slots; at most 256
    threshold: float = 0.4  # estimated Jaccard similarity at or above which a copy joins a story
    # Fewer filled bins (about 64 distinct shingles, three sentences): the text is too short to be
    # merged on the evidence of a signature; it is a story of its own.
    min_filled: int = 48

    def __post_init__(self) -> None:
        if self.slots & (self.slots - 1) or not 2 <= self.slots <= 1024:
            raise ValueError(f"slots must be a power of two in 2..1024, not {self.slots}")
        if not 1 <= self.shingle <= 16:
            raise ValueError(f"shingle must be 1..16 words, not {self.shingle}")
        if self.rows < 1 or not 1 <= self.bands <= 256 or self.rows * self.bands > self.slots:
            raise ValueError(f"bands * rows ({self.bands} * {self.rows}) must fit in {self.slots} slots")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], not {self.threshold}")

    @property
    def agreeing_needed(self) -> int:
        """Equal slots a candidate needs: the threshold in whole slots, rounded up."""
        return -(-round(self.threshold * self.slots * 1000) // 1000)


DEFAULT_PARAMS = SketchParams()


@dataclass(frozen=True, slots=True)
class Sketch:
    """A text's signature and LSH band hashes; neither when the text is too short to merge."""

    signature: bytes | None  # `slots` big-endian uint32 values
    bands: bytes  # 9 bytes per band, its index key: the band number, a hash of its rows (none if short)
    filled: int  # bins that received a shingle (a distinct-shingle count that saturates at slots)

    def band_keys(self) -> list[bytes]:
        """One index key per band: the band number (one byte) and its 8-byte hash."""
        return [self.bands[start : start + 9] for start in range(0, len(self.bands), 9)]


def sketch(body: str, params: SketchParams = DEFAULT_PARAMS) -> Sketch:
    """The sketch of an article body (headlines are rewritten by every site: they carry no evidence)."""
    return sketch_internal(internal_form(body), params)


def sketch_internal(internal: bytes, params: SketchParams = DEFAULT_PARAMS) -> Sketch:
    """The sketch of a body already in the internal form (the matcher's scan makes it anyway)."""
    signature, filled = _sketch.sketch(internal, params.shingle, params.slots)
    if filled < params.min_filled:
        return Sketch(None, b"", filled)
    return Sketch(signature, _sketch.bands(signature, params.rows, params.bands), filled)


def sketch_joined(joined: bytes, params: SketchParams = DEFAULT_PARAMS) -> Sketch:
    """The sketch of an article from the matcher's joined form (title, the boundary byte, body): the
    worker's tag step has it already, so the story step adds only the C pass."""
    return sketch_internal(joined[joined.find(b"\n") + 1 :], params)


def agreeing(a: bytes, b: bytes) -> int:
    """How many signature slots two signatures share (slots * estimated Jaccard similarity)."""
    return _sketch.agreeing(a, b)
