"""``nas status``: the progress of every worker of a study, read from its storage only."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from nas.search.config import DEFAULT_STALE_AFTER_S
from nas.search.history import History
from nas.search.lease import host_key, stale_reason
from nas.search.selection import best_info, load_selection


@dataclass
class StudyStatus:
    """Counts, per-worker counts, best so far and stale trials of one study."""

    study: str
    storage: str
    budget: int | None
    completed: int
    failed: int
    running: int
    requeued: int
    discarded: int
    best: dict | None
    workers: list[dict] = field(default_factory=list)
    stale: list[dict] = field(default_factory=list)
    running_trials: list[dict] = field(default_factory=list)
    pruned: int = 0
    #: what the study's scores were made with (fixed when it was created; None: older)
    settings: dict | None = None
    data: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


def study_status(study, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> StudyStatus:
    """Read the status of an open :class:`~nas.search.study.SearchStudy` (nothing is
    changed: stale trials are reported, and failed by the next worker that runs)."""
    history = study.history()
    attrs = study.user_attrs()
    now, here = time.time(), host_key()
    return StudyStatus(
        study=study.name, storage=study.label, budget=attrs.get("budget"),
        settings=attrs.get("settings"), data=attrs.get("data"), **history.counts(),
        best=_best(history, load_selection(study)),
        workers=_per_worker(history, now, stale_after_s),
        stale=[{"trial_number": r.number, "worker": r.worker, "arch_id": r.arch_id,
                "reason": reason} for r in history.running
               if (reason := stale_reason(r, now, stale_after_s, here))],
        running_trials=[{"trial_number": r.number, "worker": r.worker, "arch_id": r.arch_id,
                         "seconds": round(now - r.started, 1) if r.started else None}
                        for r in history.running])


def _best(history: History, selection) -> dict | None:
    """The study's best: final selection's winner while it is current, else the best by
    validation (:func:`nas.search.selection.best_info`)."""
    best, final = best_info(history, selection)
    if best is None:
        return None
    return {"trial_number": best.number, "arch_id": best.arch_id, "val_score": best.value,
            "test_score": best.user_attrs.get("test_score"),
            "metric": best.user_attrs.get("metric"), **final}


def _last_heartbeat(record, stale_after_s: float) -> float | None:
    """When a running trial's lease was last renewed (its worker is seen at work then)."""
    if record.running and record.lease_until is not None:
        return record.lease_until - stale_after_s
    return None


def _per_worker(history: History, now: float, stale_after_s: float) -> list[dict]:
    counts: dict[str, Counter] = {}
    last: dict[str, float] = {}
    for r in history.records:
        who = r.worker or "?"
        state = ("requeued" if r.requeue else "discarded" if r.discarded
                 else r.state.lower())
        counts.setdefault(who, Counter())[state] += 1
        stamp = r.finished or _last_heartbeat(r, stale_after_s) or r.started or 0.0
        last[who] = max(last.get(who, 0.0), stamp)
    return [{"worker": who, "completed": c["complete"], "failed": c["fail"],
             "running": c["running"], "requeued": c["requeued"], "discarded": c["discarded"],
             "last_seen_s": round(now - last[who], 1) if last[who] else None}
            for who, c in sorted(counts.items())]
