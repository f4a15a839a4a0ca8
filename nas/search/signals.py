"""Graceful stop on SIGINT/SIGTERM that never cuts a storage write in half.

Inside :func:`graceful_stop`, SIGINT and SIGTERM raise :class:`Interrupted` (a
``KeyboardInterrupt``) in the main thread, so training stops at once; but while the
main thread is inside :func:`critical` (a storage call), the signal is held and raised
when the outermost critical section ends. Further signals while stopping are ignored,
so a Ctrl-C that reaches a worker twice (from the terminal and from its parent) does
not cut the clean-up short. The worker then records the interrupted trial
(failed with reason ``interrupted``, its architecture re-queued) and stops.

:func:`time_up_in` arms the same machinery with a timer (SIGALRM) for ``--time-limit``:
at the deadline :class:`TimeUp` is raised in the main thread, held like the others
while a storage write is in progress.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"depth": 0, "pending": None, "stopping": False}


class Interrupted(KeyboardInterrupt):
    """The worker was asked to stop (SIGINT or SIGTERM)."""


class TimeUp(Interrupted):
    """The search's time limit was reached while the worker was busy."""


def _exception(name: str) -> Interrupted:
    return TimeUp(name) if name == "SIGALRM" else Interrupted(name)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum, frame) -> None:
    if _state["stopping"]:
        return  # already stopping: let the worker finish recording its state
    name = signal.Signals(signum).name
    if _state["depth"] > 0:
        _state["pending"] = _state["pending"] or name
        return
    _state["stopping"] = True
    raise _exception(name)


@contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until this block (in the main thread) ends."""
    if not _main_thread():
        yield
        return
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        pending = _state["pending"]
        if _state["depth"] == 0 and pending:
            _state["pending"] = None
            _state["stopping"] = True
            raise _exception(pending)


@contextmanager
def graceful_stop() -> Iterator[None]:
    """Install the SIGINT/SIGTERM handlers for the block (main thread only; elsewhere a
    no-op) and restore the previous ones afterwards."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state["pending"], _state["stopping"] = None, False


@contextmanager
def time_up_in(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeUp` in the main thread after ``seconds`` (None: never), inside a
    :func:`graceful_stop` block. Outside the main thread it only waits for the block."""
    if seconds is None or not _main_thread():
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
