"""The study's clock: how much wall-clock time a search has spent, for ``--time-limit``.

The clock is read from the study itself, so every worker on every machine, and every
resume, sees the same one: it is the length of the **union of the trials' intervals**
(from a trial's start to its finish, or to now while it runs). Time when no trial of
the study was running (between two runs of ``nas search``, or before the first) does not
count; time when several workers ran at once counts once. A trial failed as stale after
its worker died counts up to its last lease renewal (its ``nas:lease_until``), not up
to the moment another worker noticed, so a crash followed by a resume the next day adds
at most one lease period (``--stale-after``).

A worker starts no trial once the clock has reached the limit, and stops a running
evaluation when it reaches it (the trial is re-queued, as on Ctrl-C; see
:mod:`nas.search.worker`).
"""

from __future__ import annotations

import re

from nas.errors import OptionError
from nas.search.history import History

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def study_seconds(history: History, now: float) -> float:
    """Seconds of wall-clock time in which some trial of ``history`` was running."""
    spans = sorted(span for r in history.records if (span := _span(r, now)) is not None)
    total, start, end = 0.0, None, None
    for a, b in spans:
        if end is None or a > end:
            total += (end - start) if end is not None else 0.0
            start, end = a, b
        else:
            end = max(end, b)
    return total + ((end - start) if end is not None else 0.0)


def _span(record, now: float) -> tuple[float, float] | None:
    if record.started is None:
        return None
    end = record.finished if record.finished is not None else now
    if record.lease_until is not None and not record.running:
        end = min(end, record.lease_until)  # a dead worker's trial: until its last lease
    return (record.started, end) if end > record.started else None


def parse_duration(text: str | float | int | None) -> float | None:
    """``"20m"``, ``"1h30m"``, ``"90s"``, ``"45"`` (seconds) -> seconds; None or ``0``/``""``
    -> None (no limit).

    Raises:
        OptionError: the text is not a duration (naming the ``time_limit_s`` option).
    """
    if text is None or isinstance(text, int | float):
        return float(text) if text else None
    value = text.strip().lower()
    if not value or value in ("0", "none"):
        return None
    try:
        return float(value) or None
    except ValueError:
        pass
    parts = _PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        raise OptionError("{time_limit_s} " + repr(text).replace("{", "{{").replace("}", "}}")
                          + " is not a duration: write e.g. 20m, 1h30m, 90s or a number "
                            "of seconds")
    return float(sum(float(n) * _UNITS[u] for n, u in parts))
