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
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
    #: the architecture's function key (:mod:`nas.canonical`); None in older studies
    function_key: str | None = None
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
    def keys(self) -> tuple[str, ...]:
        """What this trial's claim holds: its arch id and its function key (when
        recorded; a trial of an older study holds its arch id only)."""
        return tuple(key for key in (self.arch_id, self.function_key) if key)

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
        function_key=user.get("function_key"),
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


class FinishedIndex:
    """Finished trials, in the order a reader learned of them, indexed for the protocol.

    Append-only: a finished trial never changes. A :class:`History` sees the first
    ``seen`` entries, so later additions (by the next read) never leak into it.
    """

    def __init__(self, records: Sequence[TrialRecord] = ()):
        self.order: list[TrialRecord] = []
        self.evaluated: list[int] = []  # positions in ``order``
        self.requeued: list[int] = []
        # arch id or function key -> positions of the evaluated trials that hold it
        self.holders: dict[str, list[int]] = {}
        for record in records:
            self.add(record)

    def add(self, record: TrialRecord) -> None:
        """Index one finished trial."""
        seq = len(self.order)
        self.order.append(record)
        if record.evaluated:
            self.evaluated.append(seq)
            for key in record.keys:
                self.holders.setdefault(key, []).append(seq)
        elif record.requeue:
            self.requeued.append(seq)


@dataclass(frozen=True)
class History:
    """All trials of the outer study at one moment, ordered by trial number.

    What the protocol asks of a history (is an architecture held, how much budget is
    spent, the re-run queue) costs look-ups in a :class:`FinishedIndex` and a pass over
    the running trials, not a scan of every trial: a reader that keeps the index across
    reads (:meth:`nas.search.study.SearchStudy.history`) passes it in with the running
    trials; otherwise it is built from ``records`` on first use.
    """

    records: tuple[TrialRecord, ...]
    maximize: bool = True
    finished: FinishedIndex | None = field(default=None, compare=False, repr=False)
    seen: int = field(default=0, compare=False, repr=False)
    active: tuple[TrialRecord, ...] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, records: Sequence[TrialRecord], maximize: bool = True) -> History:
        return cls(tuple(sorted(records, key=lambda r: r.number)), maximize)

    def __len__(self) -> int:
        return len(self.records)

    @cached_property
    def _index(self) -> tuple[FinishedIndex, int]:
        if self.finished is not None:
            return self.finished, self.seen
        index = FinishedIndex(r for r in self.records if r.state != "RUNNING")
        return index, len(index.order)

    def _seen(self, positions: list[int]) -> list[int]:
        """The positions below this history's ``seen`` (they are sorted)."""
        return positions[:bisect_left(positions, self._index[1])]

    def _finished(self, positions: list[int]) -> list[TrialRecord]:
        order = self._index[0].order
        return [order[i] for i in self._seen(positions)]

    def get(self, trial_id: int) -> TrialRecord | None:
        """The record of ``trial_id`` (None if absent; recent trials are found first)."""
        return next((r for r in reversed(self.records) if r.trial_id == trial_id), None)

    # --- counts ---------------------------------------------------------------------

    @property
    def completed(self) -> list[TrialRecord]:
        return [r for r in self.evaluated if r.state == "COMPLETE"]

    @property
    def failed(self) -> list[TrialRecord]:
        """Evaluations that failed (training failures), not re-queued or discarded ones."""
        return [r for r in self.evaluated if r.state == "FAIL"]

    @cached_property
    def _running(self) -> tuple[TrialRecord, ...]:
        if self.active is not None:
            return self.active
        return tuple(r for r in self.records if r.state == "RUNNING")

    @property
    def running(self) -> list[TrialRecord]:
        return list(self._running)

    @property
    def evaluated(self) -> list[TrialRecord]:
        """Evaluated trials in trial-number order."""
        return sorted(self._finished(self._index[0].evaluated), key=lambda r: r.number)

    def consuming_before(self, number: int) -> int:
        """Trials numbered below ``number`` that count against the budget (counted from
        the end: ``number`` is usually one of the newest)."""
        later = 0
        for r in reversed(self.records):
            if r.number < number:
                break
            later += r.consuming
        return self.consuming - later

    @property
    def consuming(self) -> int:
        return len(self._running) + len(self._seen(self._index[0].evaluated))

    # --- claims and the re-run queue --------------------------------------------------

    def holds(self, arch_id: str, exclude_trial_id: int | None = None,
              function_key: str | None = None) -> bool:
        """Whether an architecture is not to be proposed: its ``arch_id`` or its
        ``function_key`` (:mod:`nas.canonical`: another string of the same network) is
        held by an evaluated or running trial (other than ``exclude_trial_id``), or was
        given up after :data:`MAX_REQUEUES` re-queues."""
        keys = {key for key in (arch_id, function_key) if key}
        return bool(self.rivals(exclude_trial_id, arch_id, function_key)
                    or keys & self._given_up)

    def claimed_ids(self, exclude_trial_id: int | None = None) -> set[str]:
        """Architecture ids and function keys not to propose (see :meth:`holds`), all
        of them."""
        index = self._index[0]
        held = {key for key, where in index.holders.items() if self._seen(where)}
        held |= {key for r in self._running if r.trial_id != exclude_trial_id
                 for key in r.keys}
        return held | self.given_up_ids()

    @cached_property
    def _given_up(self) -> frozenset[str]:
        counts: dict[str, int] = {}
        for r in self._finished(self._index[0].requeued):
            for key in r.keys:
                counts[key] = counts.get(key, 0) + 1
        return frozenset(key for key, n in counts.items() if n >= MAX_REQUEUES)

    def given_up_ids(self) -> set[str]:
        """Architectures (ids and function keys) re-queued :data:`MAX_REQUEUES` times
        or more."""
        return set(self._given_up)

    def rivals(self, trial_id: int | None, arch_id: str,
               function_key: str | None = None) -> list[TrialRecord]:
        """Other evaluated or running trials that hold ``arch_id`` or ``function_key``."""
        keys = [key for key in (arch_id, function_key) if key]
        holders = self._index[0].holders
        where = sorted({seq for key in keys for seq in holders.get(key, ())})
        found = [r for r in self._finished(where) if r.trial_id != trial_id]
        return found + [r for r in self._running
                        if r.trial_id != trial_id and not set(keys).isdisjoint(r.keys)]

    def requeued(self, exclude_trial_id: int | None = None) -> list[TrialRecord]:
        """Re-queued trials whose architecture nobody holds, oldest first, one per arch."""
        queue, seen = [], set()
        candidates = sorted(self._finished(self._index[0].requeued), key=lambda r: r.number)
        for r in candidates:
            if (r.arch and r.arch_id and seen.isdisjoint(r.keys)
                    and not self.holds(r.arch_id, exclude_trial_id, r.function_key)):
                queue.append(r)
                seen.update(r.keys)
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
        """The completed trial with the best validation score (see :func:`fitness`)."""
        scored = [r for r in self.records if r.score is not None]
        if not scored:
            return None
        return max(scored, key=lambda r: fitness(r, self.maximize))


def fitness(record: TrialRecord, maximize: bool) -> tuple[float, float, int]:
    """The order in which completed trials are better (``max`` picks the best): the
    validation score, then the lower validation loss (a 270-row validation split ties
    often near the top, and a tie broken by trial number would keep the first of many
    equal networks), then the earlier trial. Trials without a recorded loss (studies
    from before it was recorded) rank below those with one at an equal score."""
    sign = 1.0 if maximize else -1.0
    loss = _float(record.user_attrs.get("val_loss"))
    return (sign * record.score, -(loss if loss is not None else math.inf), -record.number)
