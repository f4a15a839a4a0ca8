"""Multi-fidelity across architectures: asynchronous successive halving (ASHA) over the
outer study.

With ``--min-epochs m`` an architecture's first training run (the default
hyperparameters) passes **rungs** at epochs m, m*eta, m*eta^2, ... (below ``--epochs``;
eta = ``--rung-factor``, 3 by default). At each rung the worker writes the validation
score to its trial (user_attr ``rungs``: ``{"1": 0.41, "3": 0.87}``) and reads the study:
the run goes on only if its score is among the top 1/eta of the scores that trials have
reached at that rung so far (all workers; the trial's own included), as in Li et al.,
"A System for Massively Parallel Hyperparameter Tuning" (MLSys 2020). While a rung
holds fewer than eta scores, every run goes on (Optuna's ``SuccessiveHalvingPruner``
would let only a new best through; that stops good early architectures for lack of
company). An architecture that stops at a rung is not trained further (no more epochs,
no more tuning trials): its trial ends **PRUNED** with the score it reached, which
counts as an evaluation but never as a parent, the best, or a store record (a low-
fidelity score would mislead those). The ones that go on are trained and tuned in full
and complete as usual.

**Cohorts.** A fresh sample (origin ``random``: an evolution's initial population or
random immigrant) is judged only against fresh samples, and a child (a mutation, a
crossover, a reference, a re-queued trial) only against other trials that are not fresh
samples. With one shared rung, a lineage's children fill the top third of every rung
within minutes and no fresh sample passes the first one again (issue 13: 180 of 185
immigrants of a 20-minute digits search stopped at the 1-epoch rung), so the random
immigrants could not bring in another family. ``--shared-rungs`` judges all trials
together.

**Grace for growth** (``--growth-grace N``, off by default). A child made by an edit that
adds a layer (:data:`GROWTH_KINDS <nas.mutation.GROWTH_KINDS>`: ``insert``, ``add-norm``,
``add-activation``, ``add-conv``, ``deepen``) may pass its first N rungs unjudged: its
scores there are recorded, and compete for the others, but it goes on. The reason to
try it: a deeper network starts slower (on mnist1d the reference ``cnn1d-deep``, 99%
test, scores 0.315 after one epoch where a search's children needed 0.458 to be in the
top third; 39% of growth children were stopped at the 1-epoch rung against 23% of the
others). Measured with one grace rung in a 60-minute mnist1d search, the rung had been
right: of the 30 growth children that it would have stopped, 16 stopped at the next
rung and the 13 that completed had a median validation score of 0.77 (best 0.91, where
the run's top ten were above 0.957), at 222 extra epochs. So N is 0 by default.

Everything lives in the study, so the rule holds across workers, machines, storages
and resumes: a trial's rung scores are written as it reaches them, and a worker killed
at a rung loses only its running trial (re-queued and re-run from the start, as every
interrupted trial); the rung scores of re-queued trials do not compete.
"""

from __future__ import annotations

from nas.mutation import GROWTH_KINDS
from nas.search.history import History
from nas.search.signals import critical

#: user_attr of an outer trial: validation score at each rung it reached, by epoch
RUNGS = "rungs"


def rung_epochs(min_epochs: int, max_epochs: int, factor: int) -> list[int]:
    """The epochs at which a run is judged: m, m*eta, ... strictly below ``max_epochs``."""
    epochs, at = [], min_epochs
    while at < max_epochs:
        epochs.append(at)
        at *= factor
    return epochs


#: the cohort of fresh samples (origin ``random``); every other origin is ``BRED``
FRESH, BRED = "fresh", "bred"


def rung_cohort(origin: str | None) -> str:
    """The cohort a trial of ``origin`` is judged in (see the module docstring)."""
    return FRESH if origin == "random" else BRED


def grace_rungs(origin: str | None, growth_grace: int) -> int:
    """How many first rungs a trial of ``origin`` passes unjudged: ``growth_grace`` for a
    child of a growth edit (origin ``mutation:<kind>``, kind in :data:`GROWTH_KINDS
    <nas.mutation.GROWTH_KINDS>`), 0 for every other trial."""
    kind = (origin or "").removeprefix("mutation:")
    return growth_grace if origin != kind and kind in GROWTH_KINDS else 0


def rung_scores(history: History, epoch: int, exclude_trial_id: int | None = None,
                cohort: str | None = None) -> list[float]:
    """Scores that trials (evaluated or running, not re-queued) reached at rung ``epoch``;
    with ``cohort``, only those of trials in that cohort (:func:`rung_cohort`)."""
    key = str(epoch)
    return [float(r.user_attrs[RUNGS][key]) for r in history.records
            if r.consuming and r.trial_id != exclude_trial_id
            and isinstance(r.user_attrs.get(RUNGS), dict) and key in r.user_attrs[RUNGS]
            and (cohort is None or rung_cohort(r.user_attrs.get("origin")) == cohort)]


def promoted(value: float, others: list[float], factor: int, maximize: bool) -> bool:
    """Whether ``value`` is among the top 1/``factor`` of ``others`` + itself (ASHA;
    ties go on). While the rung holds fewer than ``factor`` values, every run goes on:
    there is no top third yet, and the first architectures of a search are not stopped
    for lack of company."""
    if len(others) + 1 < factor:
        return True
    sign = 1.0 if maximize else -1.0
    ranked = sorted((sign * v for v in [*others, value]), reverse=True)
    keep = len(ranked) // factor
    return sign * value >= ranked[keep - 1]


class RungJudge:
    """The ``on_epoch`` hook of one outer trial's first training run: at each rung it
    records the score in the trial and says whether the run goes on (see the module
    docstring). ``stopped_at`` is the rung epoch where it stopped (None: it went on).
    ``cohort``: the trial's cohort, judged against its own (None: against every trial).
    ``grace``: how many of the first rungs it passes unjudged (:func:`grace_rungs`)."""

    def __init__(self, study, trial_id: int, rungs: list[int], factor: int, maximize: bool,
                 cohort: str | None = None, grace: int = 0):
        self.study, self.trial_id, self.rungs = study, trial_id, set(rungs)
        self.factor, self.maximize, self.cohort = factor, maximize, cohort
        self.unjudged = set(sorted(rungs)[:grace])
        self.scores: dict[str, float] = {}
        self.stopped_at: int | None = None

    def __call__(self, epoch: int, value: float) -> bool:
        if epoch not in self.rungs:
            return True
        self.scores[str(epoch)] = float(value)
        with critical():  # a signal never cuts a storage write in half
            self.study.set_user_attrs(self.trial_id, {RUNGS: dict(self.scores)})
        if epoch in self.unjudged:
            return True
        others = rung_scores(self.study.history(), epoch, exclude_trial_id=self.trial_id,
                             cohort=self.cohort)
        if promoted(value, others, self.factor, self.maximize):
            return True
        self.stopped_at = epoch
        return False
