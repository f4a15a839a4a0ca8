"""Progress of a search as it runs: a rich bar on a terminal, plain lines elsewhere.

The view is fed the study's :class:`~nas.search.history.History` (by the in-process
worker after each step, or by the parent polling the storage while worker processes
run), so it shows every worker's progress, including those on other machines.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import TextIO

from nas.durations import format_duration
from nas.search.clock import study_seconds
from nas.search.history import History, TrialRecord


def eta_seconds(history: History, budget: int | None,
                time_limit_s: float | None = None) -> float | None:
    """Seconds left: remaining evaluations x recent mean duration / parallel workers, or
    what is left of the time limit if that comes first."""
    left = (None if time_limit_s is None
            else max(0.0, time_limit_s - study_seconds(history, time.time())))
    by_budget = None if budget is None else _budget_eta(history, budget)
    if left is None or by_budget is None:
        return by_budget if left is None else left
    return min(left, by_budget)


def _budget_eta(history: History, budget: int) -> float | None:
    done = [r for r in history.evaluated if r.started and r.finished]
    remaining = budget - len(history.evaluated)
    if remaining <= 0:
        return 0.0
    if not done:
        return None
    mean = statistics.fmean(r.finished - r.started for r in done[-10:])
    return remaining * mean / max(1, len(history.running))


def budget_count(done: int, budget: int | None) -> tuple[str, str | None]:
    """``done`` evaluations against ``budget``, as ``("5/16", None)``; without a budget
    ``("8", None)``; and ``("8", "budget 2 reached")`` when the study holds more than its
    budget (a resume gave a smaller one), where ``8/2`` would read as a miscount."""
    if budget is None:
        return str(done), None
    if done > budget:
        return str(done), f"budget {budget} reached"
    return f"{done}/{budget}", None


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class SearchProgress:
    """Shows evaluations done / budget, best so far and ETA.

    Args:
        budget: the study's budget (None: no cap, a time limit instead).
        metric: the task's metric name (for labels).
        mode: ``rich`` (live bar), ``plain`` (one line per finished evaluation) or
            ``quiet``.
        stream: where plain lines go.
    """

    def __init__(self, budget: int | None, metric: str = "score", mode: str = "plain",
                 stream: TextIO | None = None, time_limit_s: float | None = None):
        self.budget, self.metric, self.mode = budget, metric, mode
        self.time_limit_s = time_limit_s
        self.stream = stream or sys.stdout
        self._seen: set[int] | None = None
        self._bar = None
        self._started = time.monotonic()

    def __enter__(self) -> SearchProgress:
        if self.mode == "rich":
            self._start_bar()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start_bar(self) -> None:
        # rich.progress: only a terminal bar needs it (plain and --json runs skip it)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]search[/]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"), TextColumn("{task.fields[running]}"),
            TimeElapsedColumn(), TextColumn("eta {task.fields[eta]}"), transient=False)
        self._bar.start()
        self._task = self._bar.add_task("search", total=self.budget, best="-", running="",
                                        eta="?")

    def update(self, history: History) -> None:
        """Show the state of ``history`` (new finished trials are printed once)."""
        finished = [r for r in history.records if r.evaluated]
        if self._seen is None:  # first call: what was there before this session
            self._seen = {r.number for r in finished}
            if finished:
                count, over = budget_count(len(finished), self.budget)
                self.note(f"resuming: {count} evaluations done"
                          + (f" ({over})" if over else ""))
        new = [r for r in finished if r.number not in self._seen]
        self._seen.update(r.number for r in new)
        best = history.best()
        eta = format_duration(eta_seconds(history, self.budget, self.time_limit_s))
        if self._bar is not None:
            shown = len(finished) if self.budget is None else min(len(finished), self.budget)
            self._bar.update(self._task, completed=shown,
                             best=_score(best.score if best else None), eta=eta,
                             running=f"{len(history.running)} running")
        for record in new:
            self.note(self._finished_line(record, len(finished), best, eta))

    def note(self, text: str) -> None:
        """A free-form line (reaped trials, waiting, stop reason)."""
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, markup=False)
        elif self.mode == "plain":
            self._line(text)

    def _finished_line(self, record: TrialRecord, done: int, best, eta: str) -> str:
        head = f"[{self._count(done)}] trial {record.number} {record.arch_id or '?'}"
        if record.state == "COMPLETE":
            what = f"{self.metric} {_score(record.value)}"
        elif record.state == "PRUNED":
            at = record.user_attrs.get("stopped_at_rung")
            what = f"{self.metric} {_score(record.value)} stopped at the {at}-epoch rung"
        else:
            what = f"failed: {record.fail_reason or 'unknown reason'}"
        best_text = _score(best.score) if best else "-"
        origin = record.user_attrs.get("origin")
        return f"{head} {what}{f' [{origin}]' if origin else ''} (best {best_text}, eta {eta})"

    def _count(self, done: int) -> str:
        return f"{done}/{self.budget}" if self.budget is not None else str(done)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
