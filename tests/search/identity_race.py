"""The body of a process in the study-identity race test, in a module of its own so
that spawned processes import only what it needs (a test module imports pandas, the
CLI and more, which costs seconds per process on a loaded machine)."""

from __future__ import annotations

from nas.errors import StudyMismatchError
from nas.search.study import SearchStudy


def open_at_once(spec: str, name: str, identity: dict, barrier, results) -> None:
    """Wait for every process, then open (or create) study ``name`` with ``identity``;
    put ("accepted" or "refused", identity's epochs) on ``results``."""
    barrier.wait(timeout=120)
    epochs = identity["settings"]["epochs"]
    try:
        SearchStudy.open(spec, name, direction="maximize", identity=identity)
        results.put(("accepted", epochs))
    except StudyMismatchError:
        results.put(("refused", epochs))
