"""Architecture search over a grammar: strategies, stateless workers on shared Optuna storage.

    from nas.search import SearchConfig, run_search
    summary = run_search(SearchConfig(grammar="einspace", task="digits", budget=12))

Modules, one idea each:

* :mod:`~nas.search.config`: :class:`SearchConfig`, the typed options of a search.
* :mod:`~nas.search.strategies`: ``random`` and ``evolution`` (regularized evolution);
  :mod:`~nas.search.predictor_strategy`: ``predictor`` (predictor-guided search).
  :mod:`~nas.search.strategy_registry`: the strategies by name (``--strategy``).
* :mod:`~nas.search.claims`: the budget and one-evaluation-per-architecture protocol.
* :mod:`~nas.search.lease`: leases on running trials, stale-trial detection.
* :mod:`~nas.search.worker`: the worker loop; :mod:`~nas.search.evaluate`: one evaluation.
* :mod:`~nas.search.study`, :mod:`~bench.storage`: the Optuna storage, with retries.
* :mod:`~nas.search.run`: run directory, worker processes, summary;
  :mod:`~nas.search.status`: ``nas status``; :mod:`~nas.search.progress`: progress display.
"""

from importlib import import_module

#: public name -> module that defines it (imported on first use, so that importing
#: ``nas.search.config`` from the CLI does not pull in torch and optuna)
_EXPORTS = {
    "SearchConfig": "config", "History": "history", "TrialRecord": "history",
    "SearchSummary": "run", "default_storage": "run", "run_search": "run",
    "StudyStatus": "status", "study_status": "status", "EvolutionStrategy": "strategies",
    "Proposal": "strategies", "RandomStrategy": "strategies", "Strategy": "strategies",
    "PredictorStrategy": "predictor_strategy",
    "SearchStudy": "study", "SearchContext": "worker", "WorkerReport": "worker",
    "run_worker": "worker",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nas.search' has no attribute {name!r}")
    value = getattr(import_module(f"nas.search.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
