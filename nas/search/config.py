"""The one typed description of a search: what ``nas search`` options become.

A :class:`SearchConfig` is plain, picklable data: the CLI builds it, :func:`run_search`
hands it to every worker process, and it is recorded in the run directory's ``run.json``.
Unknown keys are an error (:meth:`SearchConfig.from_dict`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nas.records import from_known_keys

STRATEGIES = ("random", "evolution", "predictor")
DEVICES = ("cpu", "cuda", "auto")
_FILE_SUFFIXES = (".csv", ".npz", ".lark")

#: defaults of ``nas search`` with no options: a few minutes on 2 CPU cores
DEFAULT_BUDGET = 16
DEFAULT_TUNE_TRIALS = 2
DEFAULT_EPOCHS = 5
DEFAULT_TRIAL_SECONDS = 60.0
#: lease of a running trial: refreshed every HEARTBEAT_S, stale after STALE_AFTER_S
DEFAULT_HEARTBEAT_S = 10.0
DEFAULT_STALE_AFTER_S = 60.0
#: predictor-guided search: candidates ranked per proposal, own results before refitting
DEFAULT_CANDIDATES = 64
DEFAULT_PREDICTOR_WARMUP = 8


@dataclass(frozen=True)
class SearchConfig:
    """Everything one search (and each of its workers) needs to know.

    Args:
        grammar: built-in grammar name or a ``.lark`` path.
        task: task name, family member (``sort-5``) or a ``.csv``/``.npz`` path.
        target: target column of a CSV task.
        task_options: extra options for the task builder (e.g. ``{"n_train": 500}``).
        strategy: ``random``, ``evolution`` (regularized evolution) or ``predictor``
            (predictor-guided).
        budget: architecture evaluations in the whole study, over all workers.
        tune_trials: inner tuning trials per architecture.
        epochs: epochs per inner trial.
        trial_seconds: seconds per inner trial (a run over it fails); None = no limit.
        workers: worker processes to start on this machine.
        study: outer study name; default ``<grammar>-<task>``.
        storage: Optuna storage (URL or file); default ``<out>/study.journal``.
        out: run directory; default ``runs/<study>``.
        seed: seed of task splits, proposals and training.
        seed_references: propose the grammar's reference architectures first.
        population, tournament: regularized evolution sizes (None = from the budget).
        crossover_rate: share of evolution children made by crossover.
        candidates: architectures the predictor ranks per proposal (``predictor``).
        predictor_warmup: completed evaluations before the study's own predictor ranks
            (before that the shipped default predictor, else random proposals).
        device: ``cpu``, ``cuda`` or ``auto``.
        heartbeat_s, stale_after_s: lease refresh period and validity of a running trial.
        export: write every evaluated architecture to the run's ONNX-Bench store.
    """

    grammar: str = "einspace"
    task: str = "digits"
    target: str | None = None
    task_options: dict = field(default_factory=dict)
    strategy: str = "evolution"
    budget: int = DEFAULT_BUDGET
    tune_trials: int = DEFAULT_TUNE_TRIALS
    epochs: int = DEFAULT_EPOCHS
    trial_seconds: float | None = DEFAULT_TRIAL_SECONDS
    workers: int = 1
    study: str | None = None
    storage: str | None = None
    out: str | None = None
    seed: int = 0
    seed_references: bool = False
    population: int | None = None
    tournament: int | None = None
    crossover_rate: float = 0.2
    candidates: int = DEFAULT_CANDIDATES
    predictor_warmup: int = DEFAULT_PREDICTOR_WARMUP
    device: str = "cpu"
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    stale_after_s: float = DEFAULT_STALE_AFTER_S
    export: bool = True

    def __post_init__(self) -> None:
        problems = [msg for bad, msg in (
            (self.strategy not in STRATEGIES,
             f"--strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}"),
            (self.device not in DEVICES, f"--device {self.device!r} is not one of "
                                         f"{', '.join(DEVICES)}"),
            (self.budget < 1, "--budget must be at least 1"),
            (self.tune_trials < 1, "--tune-trials must be at least 1"),
            (self.epochs < 1, "--epochs must be at least 1"),
            (self.workers < 1, "--workers must be at least 1"),
            (self.trial_seconds is not None and self.trial_seconds <= 0,
             "--trial-seconds must be positive"),
            (self.population is not None and self.population < 2,
             "--population must be at least 2"),
            (self.tournament is not None and self.tournament < 1,
             "--tournament must be at least 1"),
            (not 0 <= self.crossover_rate <= 1, "--crossover-rate must lie in [0, 1]"),
            (self.candidates < 1, "--candidates must be at least 1"),
            (self.predictor_warmup < 2, "--predictor-warmup must be at least 2 (a fit needs "
                                        "two results)"),
            (self.heartbeat_s <= 0 or self.stale_after_s < 2 * self.heartbeat_s,
             "the lease needs heartbeat > 0 and stale-after >= 2 x heartbeat"),
        ) if bad]
        if problems:
            from nas.errors import NasError

            raise NasError("; ".join(problems))

    # --- derived names ----------------------------------------------------------------

    @property
    def study_name(self) -> str:
        """``--study``, else ``<grammar>-<task>`` with file paths reduced to their stem."""
        if self.study:
            return self.study
        return f"{_stem(self.grammar)}-{_stem(self.task)}"

    @property
    def run_dir(self) -> Path:
        """``--out``, else ``runs/<study>``."""
        return Path(self.out) if self.out else Path("runs") / self.study_name

    @property
    def store_dir(self) -> Path:
        """The run's ONNX-Bench store root (the leaderboard's convention)."""
        return self.run_dir / "bench"

    def evolution_sizes(self) -> tuple[int, int]:
        """(population, tournament): given, or scaled to the budget.

        Defaults follow einspace's regularized evolution (population 100, tournament 10)
        for large budgets; small budgets get a population of about a third of the
        budget (at least 4) so that evolution starts before the budget is spent.
        """
        population = self.population or min(100, max(4, self.budget // 3))
        tournament = self.tournament or max(2, min(10, population // 4))
        return population, min(tournament, population)

    # --- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain dict, JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> SearchConfig:
        """Build from a dict; unknown keys are an error."""
        return from_known_keys(cls, values, "search option")


def _stem(name: str) -> str:
    """A file path's stem, else the name; characters unsafe in paths become ``_``."""
    path = Path(name)
    text = path.stem if ("/" in name or path.suffix.lower() in _FILE_SUFFIXES) else name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "run"
