"""The records of final selection (:mod:`nas.search.final`): finalists, the winner,
and which trial is a study's best. Plain data and rules over the study's history,
without torch, so that ``nas status`` and the reports read them cheaply.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from nas.search.history import fitness

#: study user_attr that holds the final selection (see :class:`FinalSelection`)
FINAL_KEY = "final_selection"


@dataclass
class Finalist:
    """One finalist's cross-validation: fold scores and their mean (None: it failed)."""

    trial_number: int
    arch_id: str
    arch: str
    val_score: float
    test_score: float | None
    hparams: dict = field(default_factory=dict)
    fold_scores: list[float] = field(default_factory=list)
    cv_seconds: float = 0.0
    fail_reason: str | None = None
    #: seconds one training run took in the search (to plan the stage's time)
    run_seconds: float = 0.0

    @property
    def cv_score(self) -> float | None:
        return statistics.fmean(self.fold_scores) if self.fold_scores else None

    @property
    def scored(self) -> bool:
        """Cross-validated (every fold), or failed: nothing left to train."""
        return bool(self.fold_scores) or self.fail_reason is not None

    @classmethod
    def of(cls, record) -> Finalist:
        attrs = record.user_attrs
        runs = max(1, int(attrs.get("inner_trials") or 1))
        return cls(record.number, record.arch_id, record.arch, float(record.score),
                   attrs.get("test_score"), dict(attrs["hparams"]),
                   run_seconds=float(attrs.get("train_seconds") or 0.0) / runs)


@dataclass
class FinalSelection:
    """What final selection found: every finalist, the winner and its retrained test."""

    folds: int
    finalists: list[Finalist]
    winner: int | None = None  # trial number
    #: finalists asked for (``--finalists``); fewer may qualify
    requested: int = 0
    winner_arch_id: str | None = None
    final_test_score: float | None = None
    final_val_score: float | None = None  # the winner's cv_score
    final_seconds: float = 0.0
    complete: bool = True  # False: the time ran out before every finalist was scored
    note: str = ""

    def to_dict(self) -> dict:
        return {"folds": self.folds, "requested": self.requested, "winner": self.winner,
                "winner_arch_id": self.winner_arch_id,
                "final_test_score": self.final_test_score,
                "final_val_score": self.final_val_score,
                "final_seconds": round(self.final_seconds, 3), "complete": self.complete,
                "note": self.note,
                "finalists": [{**vars(f), "cv_score": f.cv_score} for f in self.finalists]}

    @classmethod
    def from_dict(cls, data: dict) -> FinalSelection:
        """The inverse of :meth:`to_dict` (``cv_score`` is derived, not read)."""
        finalists = [Finalist(**{k: v for k, v in f.items() if k != "cv_score"})
                     for f in data.get("finalists", [])]
        kept = {k: data[k] for k in ("winner", "requested", "winner_arch_id",
                                     "final_test_score", "final_val_score",
                                     "final_seconds", "complete", "note") if k in data}
        return cls(folds=data["folds"], finalists=finalists, **kept)

    @property
    def winner_entry(self) -> Finalist | None:
        return next((f for f in self.finalists if f.trial_number == self.winner), None)


#: a finalist's validation score is within this share of the best one's (a network far
#: behind on validation is not worth the folds: cross-validation will not reverse it)
FINALIST_TOLERANCE = 0.05


def finalists(history, n: int) -> list:
    """The ``n`` best completed trials by validation fitness, one per function (a second
    string of a network already chosen would cost training and tell nothing new), each
    within :data:`FINALIST_TOLERANCE` of the best."""
    if n < 1:
        return []
    ranked = sorted((r for r in history.records if r.score is not None),
                    key=lambda r: fitness(r, history.maximize), reverse=True)
    chosen, seen = [], set()
    for record in ranked:
        keys = set(record.keys)
        if (keys & seen or not record.user_attrs.get("hparams")
                or not _close_to(record.score, ranked[0].score, history.maximize)):
            continue
        seen |= keys
        chosen.append(record)
        if len(chosen) == n:
            break
    return chosen


def _close_to(score: float, best: float, maximize: bool) -> bool:
    margin = FINALIST_TOLERANCE * abs(best)
    return score >= best - margin if maximize else score <= best + margin


def load_selection(study) -> FinalSelection | None:
    """The final selection recorded in ``study`` (a :class:`SearchStudy`), if any."""
    data = study.user_attrs().get(FINAL_KEY)
    try:
        return FinalSelection.from_dict(data) if isinstance(data, dict) else None
    except (KeyError, TypeError, ValueError):  # not ours, or damaged: selection runs anew
        return None


def winner_record(history, selection: FinalSelection | None):
    """The study's best by final selection: the winner's trial record while the
    selection is current (its finalists are still the study's best by validation; a
    search that went on afterwards may have better ones), else None."""
    if selection is None or selection.winner is None:
        return None
    current = [r.arch_id for r in
               finalists(history, selection.requested or len(selection.finalists))]
    if current != [f.arch_id for f in selection.finalists]:
        return None
    return next((r for r in history.records
                 if r.number == selection.winner and r.score is not None), None)


def best_info(history, selection: FinalSelection | None) -> tuple[object, dict]:
    """The study's best trial record (final selection's winner while current, else the
    best by validation) and what final selection adds to it (``cv_score``, ``folds``,
    ``final_test_score``; empty when it is the best by validation)."""
    winner = winner_record(history, selection)
    if winner is None:
        return history.best(), {}
    return winner, {"cv_score": selection.winner_entry.cv_score, "folds": selection.folds,
                    "final_test_score": selection.final_test_score}


def pick_winner(selection: FinalSelection, maximize: bool) -> None:
    """The best cross-validated finalist; among equals, the better by validation (the
    finalists are in that order)."""
    sign = 1.0 if maximize else -1.0
    scored = [(sign * f.cv_score, -i, f) for i, f in enumerate(selection.finalists)
              if f.cv_score is not None]
    if not scored:
        selection.winner = selection.final_val_score = None
        return
    best = max(scored, key=lambda item: item[:2])[2]
    selection.winner, selection.final_val_score = best.trial_number, best.cv_score
    if best.arch_id != selection.winner_arch_id:  # a new winner: its retraining is due
        selection.winner_arch_id, selection.final_test_score = best.arch_id, None
