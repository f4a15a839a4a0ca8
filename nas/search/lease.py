"""Leases on running trials: how a dead worker's trial is told from a slow one.

Optuna's own heartbeat exists only for RDB storages (``RDBStorage(heartbeat_interval=...)``);
its journal storage has none. So the search keeps one mechanism for every storage:

* a worker writes ``nas:lease_until`` (now + ``stale_after_s``) into its running trial's
  system_attrs when it creates the trial, and a :class:`Lease` thread renews it every
  ``heartbeat_s`` until the trial is finished;
* any worker that reads the study treats a RUNNING trial as **stale** when its lease has
  expired, or at once when it was started on this same host (same hostname, boot and
  PID namespace) by a process that no longer exists (a trial without a lease, from a
  worker killed before it wrote one, expires ``stale_after_s`` after its start);
* a stale trial is failed with its reason (``fail_reason`` user_attr) and re-queued
  (``nas:requeue``), or discarded (``nas:discarded``) if it had not claimed an
  architecture yet. The FAIL transition is atomic in every storage, so if the worker
  was alive after all and finishes first, its result stands and the reaper backs off.

The lease compares wall clocks of different machines: keep them in sync (NTP) to well
under ``stale_after_s``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from functools import lru_cache

from nas.search.history import (
    DISCARDED,
    HOST_KEY,
    LEASE_UNTIL,
    REQUEUE,
    History,
    TrialRecord,
)


def worker_id() -> str:
    """This process as ``host:pid`` (the ``worker`` user_attr of its trials)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@lru_cache(maxsize=1)
def host_key() -> str:
    """Hostname, boot id and PID namespace: two processes with the same key can see each
    other's PIDs, so one may check whether the other is alive."""
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            parts.append(f.read().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("no-proc")  # not Linux: PID checks are still valid on one host
    return "/".join(parts)


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (on this host and PID namespace)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return not _zombie(pid)
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but its parent has not collected it yet (Linux): it
    still exists for ``kill(pid, 0)`` but will never renew a lease again."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False  # gone meanwhile, or no /proc: the kill check above decides
    return stat[stat.rindex(")") + 2:].startswith(("Z", "X"))  # state follows "(comm) "


def stale_reason(record: TrialRecord, now: float, stale_after_s: float,
                 here: str | None = None) -> str | None:
    """Why a RUNNING trial is stale, or None when it is not (or not running).

    ``here`` is this process's :func:`host_key`; trials started on the same host by a
    process that has exited are stale at once.
    """
    if not record.running:
        return None
    who = record.worker or "an unknown worker"
    if here is not None and record.host_key == here and record.worker:
        pid = _pid_of(record.worker)
        if pid is not None and pid != os.getpid() and not process_alive(pid):
            return f"stale: worker {who} is no longer running (found by {worker_id()})"
    lease = record.lease_until
    if lease is None and record.started is not None:
        lease = record.started + stale_after_s
    if lease is not None and now > lease:
        return (f"stale: no heartbeat from worker {who} for {now - lease + stale_after_s:.0f} s "
                f"(found by {worker_id()})")
    return None


def _pid_of(worker: str) -> int | None:
    try:
        return int(worker.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def reap_stale(study, history: History, stale_after_s: float) -> list[TrialRecord]:
    """Fail every stale trial of ``history`` with its reason and re-queue its architecture.

    Returns the trials this call failed (another worker may have failed some first, or a
    trial may have finished meanwhile: those are left as they are).
    """
    from optuna.exceptions import UpdateFinishedTrialError

    now, here = time.time(), host_key()
    reaped = []
    for record in history.running:
        reason = stale_reason(record, now, stale_after_s, here)
        if reason is None:
            continue
        # a trial killed before it claimed an architecture has nothing to re-run
        flag = REQUEUE if record.arch_id else DISCARDED
        try:  # reason, flag and FAIL in one write: all of it, or nothing if it finished
            if study.update(record.trial_id, {"fail_reason": reason}, {flag: True},
                            state="FAIL"):
                reaped.append(record)
        except UpdateFinishedTrialError:
            continue  # finished meanwhile (by its worker or another reaper)
    return reaped


def lease_attrs(stale_after_s: float) -> dict:
    """A fresh lease with this host's key: the system_attrs a trial starts with."""
    return {LEASE_UNTIL: time.time() + stale_after_s, HOST_KEY: host_key()}


class Lease:
    """Keeps a running trial's lease fresh from a daemon thread.

    ``lost`` becomes True when a renewal finds the trial already finished (someone
    failed it as stale): the worker's result for it would be refused, so it should stop
    working on it.
    """

    def __init__(self, study, trial_id: int, heartbeat_s: float, stale_after_s: float):
        self.study, self.trial_id = study, trial_id
        self.heartbeat_s, self.stale_after_s = heartbeat_s, stale_after_s
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, written: bool = False) -> Lease:
        """Write the first lease (:func:`lease_attrs`) now, unless it was ``written`` with
        the trial's creation, then renew it in the background."""
        if not written:
            self.study.set_system_attrs(self.trial_id, lease_attrs(self.stale_after_s))
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.trial_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (call before finishing the trial)."""
        self._stop.set()
        if self._thread is not None and self._thread.ident is not None:  # started
            self._thread.join(timeout=30)

    def __enter__(self) -> Lease:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        while not self._stop.wait(self.heartbeat_s):
            try:
                self.study.set_system_attrs(
                    self.trial_id, {LEASE_UNTIL: time.time() + self.stale_after_s})
            except UpdateFinishedTrialError:
                self.lost = True
                return
            except Exception:  # storage down: keep trying; the lease may lapse meanwhile
                continue
