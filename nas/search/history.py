"""The study's history as plain records, and what each trial means to the protocol.

Every worker reads the whole outer study before it acts; all decisions (budget, which
architecture to propose, which trials are stale, what to re-run) are functions of these
records, so workers keep no state of their own.

A trial is one of:

* **evaluated**: COMPLETE, or FAIL with a training/evaluation failure. It spent budget
  and its architecture is never evaluated again.
* **running**: RUNNING. It holds budget and a claim on its architecture while its lease
  (``nas:lease_until``) is fresh; see :mod:`nas.search.lease`.
* **re-queued**: FAIL with ``nas:requeue`` (its worker was killed, or interrupted). It
  spent nothing; its architecture is proposed again before anything new.
* **discarded**: FAIL with ``nas:discarded`` (created in a race for the last budget
  slot, or by a worker that found nothing left to propose). It spent nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.storage import DISCARDED, HOST_KEY, LEASE_UNTIL, REQUEUE

#: an architecture whose trials were re-queued this often (e.g. it gets its worker
#: killed for memory every time) is given up rather than re-run forever
MAX_REQUEUES = 3


@dataclass(frozen=True)
class TrialRecord:
    """One outer-study trial, reduced to what the search protocol and reports need.

    Times are seconds since the epoch; ``value`` is None unless the trial completed.
    """

    trial_id: int
    number: int
    state: str
    value: float | None
    arch: str | None = None
    arch_id: str | None = None
    worker: str | None = None
    fail_reason: str | None = None
    lease_until: float | None = None
    host_key: str | None = None
    requeue: bool = False
    discarded: bool = False
    started: float | None = None
    finished: float | None = None
    user_attrs: Mapping = field(default_factory=dict, compare=False, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @property
    def evaluated(self) -> bool:
        """Finished and spent budget: COMPLETE (or PRUNED), or FAIL of its own."""
        if self.state in ("COMPLETE", "PRUNED"):
            return True
        return self.state == "FAIL" and not (self.requeue or self.discarded)

    @property
    def consuming(self) -> bool:
        """Counts against the budget: evaluated or running."""
        return self.evaluated or self.running

    @property
    def score(self) -> float | None:
        """The validation score of a completed trial with a finite value, else None."""
        if self.state != "COMPLETE" or self.value is None or not math.isfinite(self.value):
            return None
        return self.value


def from_frozen(trial) -> TrialRecord:
    """A :class:`TrialRecord` from an Optuna ``FrozenTrial``."""
    user, system = trial.user_attrs, trial.system_attrs
    value = trial.values[0] if trial.values else None
    return TrialRecord(
        trial_id=trial._trial_id,  # Optuna has no public accessor; storage calls need it
        number=trial.number,
        state=trial.state.name,
        value=value,
        arch=user.get("arch"),
        arch_id=user.get("arch_id"),
        worker=user.get("worker"),
        fail_reason=user.get("fail_reason"),
        lease_until=_float(system.get(LEASE_UNTIL)),
        host_key=system.get(HOST_KEY),
        requeue=bool(system.get(REQUEUE, False)),
        discarded=bool(system.get(DISCARDED, False)),
        started=trial.datetime_start.timestamp() if trial.datetime_start else None,
        finished=trial.datetime_complete.timestamp() if trial.datetime_complete else None,
        user_attrs=user,
    )


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class History:
    """All trials of the outer study at one moment, ordered by trial number."""

    records: tuple[TrialRecord, ...]
    maximize: bool = True

    @classmethod
    def of(cls, records: Sequence[TrialRecord], maximize: bool = True) -> History:
        return cls(tuple(sorted(records, key=lambda r: r.number)), maximize)

    def __len__(self) -> int:
        return len(self.records)

    def get(self, trial_id: int) -> TrialRecord | None:
        """The record of ``trial_id`` (None if absent)."""
        return next((r for r in self.records if r.trial_id == trial_id), None)

    # --- counts ---------------------------------------------------------------------

    @property
    def completed(self) -> list[TrialRecord]:
        return [r for r in self.records if r.state == "COMPLETE"]

    @property
    def failed(self) -> list[TrialRecord]:
        """Evaluations that failed (training failures), not re-queued or discarded ones."""
        return [r for r in self.records if r.state == "FAIL" and r.evaluated]

    @property
    def running(self) -> list[TrialRecord]:
        return [r for r in self.records if r.running]

    @property
    def evaluated(self) -> list[TrialRecord]:
        return [r for r in self.records if r.evaluated]

    def consuming_before(self, number: int) -> int:
        """Trials numbered below ``number`` that count against the budget."""
        return sum(1 for r in self.records if r.number < number and r.consuming)

    @property
    def consuming(self) -> int:
        return sum(1 for r in self.records if r.consuming)

    # --- claims and the re-run queue --------------------------------------------------

    def claimed_ids(self, exclude_trial_id: int | None = None) -> set[str]:
        """Architecture ids not to propose: held by evaluated or running trials (other
        than one), or given up after :data:`MAX_REQUEUES` re-queues."""
        held = {r.arch_id for r in self.records
                if r.arch_id and r.consuming and r.trial_id != exclude_trial_id}
        return held | self.given_up_ids()

    def given_up_ids(self) -> set[str]:
        """Architectures re-queued :data:`MAX_REQUEUES` times or more."""
        counts: dict[str, int] = {}
        for r in self.records:
            if r.requeue and r.arch_id:
                counts[r.arch_id] = counts.get(r.arch_id, 0) + 1
        return {arch_id for arch_id, n in counts.items() if n >= MAX_REQUEUES}

    def rivals(self, trial_id: int, arch_id: str) -> list[TrialRecord]:
        """Other evaluated or running trials that hold ``arch_id``."""
        return [r for r in self.records
                if r.trial_id != trial_id and r.arch_id == arch_id and r.consuming]

    def requeued(self, exclude_trial_id: int | None = None) -> list[TrialRecord]:
        """Re-queued trials whose architecture nobody holds, oldest first, one per arch."""
        taken = self.claimed_ids(exclude_trial_id)
        queue, seen = [], set()
        for r in self.records:
            if r.requeue and r.arch and r.arch_id and r.arch_id not in taken | seen:
                queue.append(r)
                seen.add(r.arch_id)
        return queue

    def counts(self) -> dict[str, int]:
        """Trial counts by state, as ``nas search --json`` and ``nas status`` report them."""
        return {"completed": len(self.completed), "failed": len(self.failed),
                "pruned": sum(r.state == "PRUNED" for r in self.records),
                "running": len(self.running), "requeued": len(self.requeued()),
                "discarded": sum(r.discarded for r in self.records)}

    def tried_ids(self) -> set[str]:
        """Every architecture id any trial ever held (re-queued ones included)."""
        return {r.arch_id for r in self.records if r.arch_id}

    # --- scores ---------------------------------------------------------------------

    def best(self) -> TrialRecord | None:
        """The completed trial with the best validation score (earliest on ties)."""
        scored = [r for r in self.records if r.score is not None]
        if not scored:
            return None
        sign = 1.0 if self.maximize else -1.0
        return max(scored, key=lambda r: (sign * r.score, -r.number))
