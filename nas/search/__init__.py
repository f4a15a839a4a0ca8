"""Architecture search over a grammar: strategies, stateless workers on shared Optuna storage.

    from nas.search import SearchConfig, run_search
    summary = run_search(SearchConfig(grammar="einspace", task="digits", budget=12))

Modules, one idea each:

* :mod:`~nas.search.config`: :class:`SearchConfig`, the typed options of a search.
* :mod:`~nas.search.strategies`: ``random`` and ``evolution`` (regularized evolution).
* :mod:`~nas.search.claims`: the budget and one-evaluation-per-architecture protocol.
* :mod:`~nas.search.lease`: leases on running trials, stale-trial detection.
* :mod:`~nas.search.worker`: the worker loop; :mod:`~nas.search.evaluate`: one evaluation.
* :mod:`~nas.search.study`, :mod:`~nas.search.storage`: the Optuna storage, with retries.
* :mod:`~nas.search.run`: run directory, worker processes, summary;
  :mod:`~nas.search.status`: ``nas status``; :mod:`~nas.search.progress`: progress display.
"""

from nas.search.config import SearchConfig
from nas.search.history import History, TrialRecord
from nas.search.run import SearchSummary, default_storage, run_search
from nas.search.status import StudyStatus, study_status
from nas.search.strategies import EvolutionStrategy, Proposal, RandomStrategy, Strategy
from nas.search.study import SearchStudy
from nas.search.worker import SearchContext, WorkerReport, run_worker

__all__ = [
    "EvolutionStrategy", "History", "Proposal", "RandomStrategy", "SearchConfig",
    "SearchContext", "SearchStudy", "SearchSummary", "Strategy", "StudyStatus",
    "TrialRecord", "WorkerReport", "default_storage", "run_search", "run_worker",
    "study_status",
]
