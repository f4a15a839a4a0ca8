"""JSON text that every JSON reader accepts: the one writer of the platform's ``--json``.

Python's ``json.dumps`` writes ``NaN`` and ``Infinity`` for non-finite floats, which
is not JSON (RFC 8259): ``jq``, JavaScript and most other readers reject the whole
document. :func:`dumps` writes them as ``null`` instead (a missing number), turns numpy
scalars into plain numbers, and writes anything else it cannot encode as its ``str``.

    from nas.json_text import dumps
    typer.echo(dumps({"best": float("inf")}))   # {"best": null}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping


def finite_or_none(value: object) -> object:
    """``value`` with every non-finite float (NaN, +-inf) replaced by None, recursively
    through dicts, lists and tuples; numpy scalars become Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    if _is_numpy_scalar(value):
        return finite_or_none(value.item())  # type: ignore[attr-defined]
    return value


def _is_numpy_scalar(value: object) -> bool:
    # duck-typed so that this leaf module does not import numpy
    return hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0


def dumps(value: object, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """``value`` as strict JSON text: non-finite numbers as ``null``, unknown objects as
    their ``str`` (paths, datetimes). Never writes ``NaN`` or ``Infinity``."""
    return json.dumps(finite_or_none(value), indent=indent, sort_keys=sort_keys,
                      allow_nan=False, default=str)


__all__ = ["dumps", "finite_or_none"]
