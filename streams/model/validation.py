"""THE one ValidationError describer: pydantic's errors as one line, worded for the author of the input."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError, *, limit: int | None = None, root: str = "") -> str:
    """``field: problem`` items joined by "; " (the first `limit` of them); `root` names the whole
    input when an error has no field (e.g. ``article: Value error, id is empty``)."""
    problems = []
    for error in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {where!r}")
        elif error["type"] == "missing":
            problems.append(f"missing required key {where!r}")
        elif where or root:
            problems.append(f"{where or root}: {error['msg']}")
        else:
            problems.append(str(error["msg"]))
    return "; ".join(problems)
