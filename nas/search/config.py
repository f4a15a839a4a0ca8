"""The one typed description of a search: what ``nas search`` options become.

A :class:`SearchConfig` is plain, picklable data: the CLI builds it, :func:`run_search`
hands it to every worker process, and it is recorded in the run directory's ``run.json``.
Unknown keys are an error (:meth:`SearchConfig.from_dict`).

Adding an option (one place): add a field to :class:`SearchConfig` defined with
:func:`~nas.options.option` (default, flags, help; ``cli_type``/``parse`` only when the
command line spells the value differently) and, if some values are invalid, a problem
in ``_problems`` naming it as ``{field_name}``. ``nas search`` derives its option from
the field (:mod:`nas.cli.config_options`); ``tests/search/test_config.py`` checks that
the CLI exposes every field with the same default and help. Pass
``defines_scores=True`` when its value changes what a score means (a study then records
it at creation and refuses a resume that changes it; docs/search.md, "What a study
guarantees"). Then use it where the search needs it and add a row to docs/search.md's
table.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from nas.errors import OptionError
from nas.options import option, score_fields
from nas.records import from_known_keys
from nas.search.clock import parse_duration
from nas.search.predictor_strategy import (
    DEFAULT_CANDIDATES,
    DEFAULT_MIN_TRAINABILITY,
    DEFAULT_PREDICTOR_WARMUP,
)
from nas.search.strategy_registry import STRATEGIES

MUTATIONS = ("small", "subtree")
DEVICES = ("cpu", "cuda", "auto")
_FILE_SUFFIXES = (".csv", ".npz", ".lark")

#: defaults of ``nas search`` with no options: a few minutes on 2 CPU cores
DEFAULT_BUDGET = 16
DEFAULT_TUNE_TRIALS = 2
#: every architecture first trains DEFAULT_MIN_EPOCHS epoch(s); the best third of each rung
#: trains on to 3, 9, then DEFAULT_EPOCHS (a good CNN on digits needs about 15 epochs to
#: pass 98.5% test accuracy, a chance-level network is dropped after one)
DEFAULT_EPOCHS = 15
DEFAULT_MIN_EPOCHS = 1
#: rungs that growth children (nas.mutation.GROWTH_KINDS) pass unjudged. Off: with one grace
#: rung (stop 27, mnist1d), none of the 30 that the 1-epoch rung would have stopped reached
#: the run's top 10; 16 stopped at the next rung (docs/search.md, "Grace for growth")
DEFAULT_GROWTH_GRACE = 0
DEFAULT_TRIAL_SECONDS = 60.0
#: lease of a running trial: refreshed every HEARTBEAT_S, stale after STALE_AFTER_S
DEFAULT_HEARTBEAT_S = 10.0
DEFAULT_STALE_AFTER_S = 60.0
#: the search's sampler: pinned grammar probabilities raised to at least this (docs/search.md,
#: "Start small"); einspace's own 0.32 gives a median of 10 nodes on 1x8x8, 0.7 gives 6
DEFAULT_STOP_PROBABILITY = 0.7
#: share of evolution proposals that are fresh samples (docs/search.md, "Strategies")
DEFAULT_IMMIGRANT_RATE = 0.25
#: final selection (nas.search.final) is off by default: on digits it did not raise the
#: test accuracy of what a 20-minute search reports (docs/search.md, "Final selection")
DEFAULT_FINALISTS = 0
#: every labelled row is held out once whatever the folds; 3 cost 3/5 of 5 (each trains on
#: 2/3 of the rows instead of 4/5), so more finalists fit in final selection's time
DEFAULT_FOLDS = 3
#: share of ``--time-limit`` kept for final selection when ``--finalists`` is on
FINAL_SHARE = 0.15
#: evaluations of a search with a time limit and no budget: no cap
UNCAPPED = 2**31 - 1
#: what evolution's default sizes assume of a time-limited search without a budget
#: (population 10, tournament 2: the sizes docs/search.md's search-quality figures used)
TIME_LIMITED_BUDGET = 30


def parse_min_epochs(value) -> int | None:
    """``--min-epochs``: a whole number, or ``none`` (no successive halving); None (the
    option not given) is the default."""
    return _number_or_word(value, DEFAULT_MIN_EPOCHS, int, "none", "min_epochs",
                           "a number of epochs")


def parse_stop_probability(value, default: float | None) -> float | None:
    """``--stop-probability``: a number, or ``grammar`` (the grammar's own: None); None
    (the option not given) is ``default``."""
    return _number_or_word(value, default, float, "grammar", "stop_probability",
                           "a probability")


def _number_or_word(value, default, convert, word: str, name: str, what: str):
    """An option that takes a number or one word meaning None (``none``, ``grammar``)."""
    if value is None:
        return default
    if not isinstance(value, str):
        return convert(value)
    if value.strip().lower() == word:
        return None
    try:
        return convert(value)
    except ValueError:
        raise OptionError("{" + name + "} " + _quoted(value)
                          + f" is not {what} or '{word}'") from None


def parse_task_options(pairs: list[str] | None) -> dict:
    """``["n_train=500", "drop=id"]`` -> ``{"n_train": 500, "drop": "id"}`` (values are
    read as JSON when they parse, else kept as text)."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise OptionError("{task_options} " + _quoted(pair) + " is not KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


@dataclass(frozen=True)
class SearchConfig:
    """Everything one search (and each of its workers) needs to know.

    Each field is one ``nas search`` option; its help text (``nas search --help``) is
    defined with the field below.
    """

    grammar: str = option("einspace", "--grammar", "-g",
                          help="Built-in grammar name or a .lark file.")
    task: str = option("digits", "--task", "-t",
                       help="Task name (`nas tasks`) or a .csv/.npz file.")
    target: str | None = option(None, "--target", help="Target column of a CSV task.",
                                defines_scores=True)
    task_options: dict = option(
        {}, "--task-option", cli_type=list[str], parse=parse_task_options, defines_scores=True,
        help="KEY=VALUE option for the task builder (repeatable), e.g. n_train=500.")
    strategy: str = option("evolution", "--strategy", "-s",
                           help="random, evolution (regularized evolution) or predictor "
                                "(predictor-guided).")
    budget: int | None = option(None, "--budget", "-n",
                                help=f"Architecture evaluations in the whole study, all "
                                     f"workers and machines (default {DEFAULT_BUDGET}; no "
                                     f"cap when only --time-limit is given).")
    time_limit_s: float | None = option(
        None, "--time-limit", cli_type=str, parse=parse_duration,
        help="Wall-clock limit of the whole study, all workers and resumes: 20m, 1h30m, 90s "
             "(see docs/search.md).")
    tune_trials: int = option(DEFAULT_TUNE_TRIALS, "--tune-trials", defines_scores=True,
                              help="Hyperparameter trials per architecture.")
    epochs: int = option(DEFAULT_EPOCHS, "--epochs", defines_scores=True,
                         help="Epochs per training run.")
    # the rungs decide how long each architecture trains, so they define its score too
    min_epochs: int | None = option(
        DEFAULT_MIN_EPOCHS, "--min-epochs", cli_type=str, parse=parse_min_epochs,
        defines_scores=True,
        help=f"First rung of successive halving across architectures, in epochs: only the "
             f"top 1/--rung-factor at each rung train further (default {DEFAULT_MIN_EPOCHS}; "
             f"'none' = every architecture trains in full; see docs/search.md).")
    rung_factor: int = option(3, "--rung-factor", defines_scores=True,
                              help="Successive halving: rungs at min-epochs x factor^k; the "
                                   "top 1/factor of a rung go on.")
    fresh_rungs: bool = option(
        True, "--fresh-rungs/--shared-rungs",
        help="Successive halving judges fresh samples (random immigrants) against fresh "
             "samples only, and children against children; --shared-rungs judges all "
             "together (see docs/search.md).")
    growth_grace: int = option(
        DEFAULT_GROWTH_GRACE, "--growth-grace",
        help="Rungs that a child of an edit adding a layer (insert, add-norm, "
             "add-activation, add-conv, deepen) passes unjudged, for deeper networks "
             f"that start slower (default {DEFAULT_GROWTH_GRACE}: judged at every rung; "
             "one grace rung did not pay on mnist1d, see docs/search.md).")
    trial_seconds: float | None = option(
        DEFAULT_TRIAL_SECONDS, "--trial-seconds", defines_scores=True,
        help="Time limit of one training run (0 = none); a run over it fails.")
    workers: int = option(1, "--workers", "-w",
                          help="Worker processes on this machine (one torch thread each).")
    study: str | None = option(None, "--study", help="Study name (default <grammar>-<task>).")
    storage: str | None = option(None, "--storage",
                                 help="Optuna storage: journal file, sqlite:///file.db or "
                                      "postgresql://... (default <out>/study.journal).")
    out: str | None = option(None, "--out", "-o", cli_type=Path,
                             parse=lambda path: str(path) if path else None,
                             help="Run directory (default runs/<study>).")
    seed: int = option(0, "--seed", defines_scores=True,
                       help="Seed of data splits, proposals and training.")
    # on: the README's main job finds a good result within its few minutes; the search
    # still works from the grammar alone (--no-seed-references), see docs/search.md
    seed_references: bool = option(True, "--seed-references/--no-seed-references",
                                   help="Evaluate the grammar's reference architectures "
                                        "that fit the task first.")
    population: int | None = option(None, "--population",
                                     help="Evolution population (default: budget/3, at most "
                                          "100).")
    tournament: int | None = option(None, "--tournament",
                                    help="Evolution tournament size (default: population/4, "
                                         "2..10).")
    mutation: str = option("small", "--mutation",
                           help="small (one small edit: a value, an op swap, an inserted or "
                                "removed op, a residual wrap, a small subtree) or subtree "
                                "(einspace's: resample any subtree, the root included).")
    stop_probability: float | None = option(
        DEFAULT_STOP_PROBABILITY, "--stop-probability", cli_type=str,
        parse=lambda v: parse_stop_probability(v, DEFAULT_STOP_PROBABILITY),
        help="Start small: the search samples fresh architectures and resampled subtrees "
             "with each pinned probability of the grammar (the chance that a recursive "
             "rule stops) raised to at least this, so it starts from small, fast networks "
             "that mutations grow (default "
             f"{DEFAULT_STOP_PROBABILITY}); 'grammar' keeps the grammar's own (see "
             "docs/search.md).")
    immigrant_rate: float = option(
        DEFAULT_IMMIGRANT_RATE, "--immigrant-rate",
        help="Share of evolution proposals, once the population is full, that are fresh "
             "samples (random immigrants) rather than children: they keep the search "
             "exploring outside its first good lineage.")
    crossover_rate: float = option(0.2, "--crossover-rate",
                                   help="Share of evolution children made by crossover.")
    candidates: int = option(DEFAULT_CANDIDATES, "--candidates",
                             help="Architectures the predictor ranks per proposal "
                                  "(--strategy predictor).")
    predictor_warmup: int = option(DEFAULT_PREDICTOR_WARMUP, "--predictor-warmup",
                                   help="Completed evaluations before the study's own "
                                        "predictor ranks (before: the shipped default "
                                        "predictor, else random).")
    trainability: str | None = option(
        None, "--trainability", cli_type=Path,
        help="A trainability classifier file (predictors.trainability): --strategy predictor "
             "ranks only candidates whose P(leaves chance) is at least --min-trainability "
             "(all of them when none is).")
    min_trainability: float = option(DEFAULT_MIN_TRAINABILITY, "--min-trainability",
                                     help="Threshold of the --trainability filter.")
    finalists: int = option(
        DEFAULT_FINALISTS, "--finalists",
        help="Final selection: the best N architectures by validation are cross-validated "
             "on train + validation and the winner is retrained on both (default 0 = off; "
             f"with --time-limit it gets the last {FINAL_SHARE:.0%}; see docs/search.md).")
    folds: int = option(DEFAULT_FOLDS, "--folds", help="Folds of final selection's "
                        "cross-validation.")
    device: str = option("cpu", "--device", help="cpu, cuda or auto.")
    heartbeat_s: float = option(DEFAULT_HEARTBEAT_S, "--heartbeat",
                                help="Seconds between lease renewals of a running trial.")
    stale_after_s: float = option(DEFAULT_STALE_AFTER_S, "--stale-after",
                                  help="Seconds without renewal after which a running "
                                       "trial is stale.")
    export: bool = option(True, "--export/--no-export",
                          help="Write every evaluated architecture's ONNX file to the run's "
                               "store.")
    background_export: bool = option(
        True, "--background-export/--inline-export",
        help="Export each trained model on a background thread while the worker evaluates "
             "the next architecture (its trial completes once the file is written); "
             "--inline-export exports before the next evaluation starts.")

    def __post_init__(self) -> None:
        if self.trial_seconds == 0:  # 0 = no limit, as on the command line
            object.__setattr__(self, "trial_seconds", None)
        if self.budget is None and self.time_limit_s is None:  # neither: the default budget
            object.__setattr__(self, "budget", DEFAULT_BUDGET)
        problems = self._problems()
        if problems:
            raise OptionError(*problems)

    def _problems(self) -> list[str]:
        """What is wrong, each naming its fields as ``{field}`` (see OptionError)."""
        return [msg for bad, msg in (
            (self.strategy not in STRATEGIES,
             "{strategy} " + _quoted(self.strategy)
             + f" is not one of {', '.join(STRATEGIES.names())}"),
            (self.device not in DEVICES,
             "{device} " + _quoted(self.device) + f" is not one of {', '.join(DEVICES)}"),
            (self.budget is not None and self.budget < 1, "{budget} must be at least 1"),
            (self.time_limit_s is not None and self.time_limit_s <= 0,
             "{time_limit_s} must be positive"),
            (self.tune_trials < 1, "{tune_trials} must be at least 1"),
            (self.min_epochs is not None and self.min_epochs < 1,
             "{min_epochs} must be at least 1"),
            (self.rung_factor < 2, "{rung_factor} must be at least 2"),
            (self.growth_grace < 0, "{growth_grace} must be 0 or more"),
            (self.epochs < 1, "{epochs} must be at least 1"),
            (self.workers < 1, "{workers} must be at least 1"),
            (self.finalists < 0, "{finalists} must be 0 (off) or more"),
            (self.folds < 2, "{folds} must be at least 2"),
            (self.trial_seconds is not None and self.trial_seconds < 0,
             "{trial_seconds} must be positive (or 0 = none)"),
            (self.population is not None and self.population < 2,
             "{population} must be at least 2"),
            (self.tournament is not None and self.tournament < 1,
             "{tournament} must be at least 1"),
            (self.mutation not in MUTATIONS,
             "{mutation} " + _quoted(self.mutation) + f" is not one of {', '.join(MUTATIONS)}"),
            (self.stop_probability is not None and not 0 < self.stop_probability < 1,
             "{stop_probability} must lie strictly between 0 and 1 (or be 'grammar')"),
            (not 0 <= self.immigrant_rate <= 1, "{immigrant_rate} must lie in [0, 1]"),
            (not 0 <= self.crossover_rate <= 1, "{crossover_rate} must lie in [0, 1]"),
            (self.candidates < 1, "{candidates} must be at least 1"),
            (not 0 <= self.min_trainability <= 1, "{min_trainability} must lie in [0, 1]"),
            (self.predictor_warmup < 2, "{predictor_warmup} must be at least 2 (a fit needs "
                                        "two results)"),
            (self.heartbeat_s <= 0 or self.stale_after_s < 2 * self.heartbeat_s,
             "the lease needs {heartbeat_s} > 0 and {stale_after_s} >= 2 x {heartbeat_s}"),
            *self._empty_names(),
        ) if bad]

    def _empty_names(self) -> list[tuple[bool, str]]:
        """An empty name would silently fall back to the default (and start a search the
        user did not ask for), so ``--study ""`` and the like are an error."""
        names = ("grammar", "task", "study", "storage", "out", "target")
        return [(value is not None and not str(value).strip(),
                 "{" + name + "} is empty: give a value or leave the option out")
                for name in names for value in (getattr(self, name),)]

    def score_settings(self) -> dict:
        """The options declared ``defines_scores`` (training budget, data split, task
        options): a study's scores are comparable only under one value of each, so the
        study records them when created and refuses a resume that changes them."""
        return {name: getattr(self, name) for name in score_fields(SearchConfig)}

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

    @property
    def search_seconds(self) -> float | None:
        """The part of ``--time-limit`` the workers search in: all of it, or all but the
        share final selection keeps (None: no limit)."""
        if self.time_limit_s is None or not self.finalists:
            return self.time_limit_s
        return self.time_limit_s * (1.0 - FINAL_SHARE)

    @property
    def max_evaluations(self) -> int:
        """The budget, or no cap (a number no study reaches) when only a time limit is set."""
        return self.budget if self.budget is not None else UNCAPPED

    def evolution_sizes(self) -> tuple[int, int]:
        """(population, tournament): given, or scaled to the budget.

        Defaults follow einspace's regularized evolution (population 100, tournament 10)
        for large budgets; small budgets get a population of about a third of the
        budget (at least 4) so that evolution starts before the budget is spent.
        """
        budget = self.budget if self.budget is not None else TIME_LIMITED_BUDGET
        population = self.population or min(100, max(4, budget // 3))
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


def _quoted(value) -> str:
    """``repr(value)`` safe inside an :class:`OptionError` template."""
    return repr(value).replace("{", "{{").replace("}", "}}")


def _stem(name: str) -> str:
    """A file path's stem, else the name; characters unsafe in paths become ``_``."""
    path = Path(name)
    text = path.stem if ("/" in name or path.suffix.lower() in _FILE_SUFFIXES) else name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "run"
