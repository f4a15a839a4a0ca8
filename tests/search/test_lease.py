"""Leases: stale trials are failed with a reason and re-queued; live and finished ones never."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from nas.search.history import HOST_KEY, LEASE_UNTIL, REQUEUE
from nas.search.lease import Lease, host_key, reap_stale, stale_reason, worker_id


def running_trial(study, worker: str, lease_until: float | None, host: str | None = None,
                  arch_id: str = "abcdefabcdef"):
    trial_id, _ = study.create_trial()
    study.set_user_attrs(trial_id, {"worker": worker, "arch": "x", "arch_id": arch_id})
    attrs = {} if lease_until is None else {LEASE_UNTIL: lease_until}
    if host:
        attrs[HOST_KEY] = host
    study.set_system_attrs(trial_id, attrs)
    return trial_id


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_expired_lease_is_failed_with_its_reason_and_requeued(study):
    trial_id = running_trial(study, "otherhost:123", time.time() - 5)
    reaped = reap_stale(study, study.history(), stale_after_s=60)
    assert [r.trial_id for r in reaped] == [trial_id]
    record = study.record(trial_id)
    assert record.state == "FAIL" and record.requeue
    assert record.fail_reason.startswith("stale: no heartbeat from worker otherhost:123")


def test_a_dead_process_on_this_host_is_stale_at_once(study):
    worker = f"{socket.gethostname()}:{dead_pid()}"
    trial_id = running_trial(study, worker, time.time() + 3600, host=host_key())
    reap_stale(study, study.history(), stale_after_s=3600)
    record = study.record(trial_id)
    assert record.state == "FAIL" and record.requeue
    assert "is no longer running" in record.fail_reason


def test_a_killed_process_not_yet_collected_by_its_parent_is_stale_at_once(study):
    """A worker killed while its sibling works stays a zombie until the parent waits for
    it; its PID still exists, yet its trial must not wait for the lease to expire."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        while not Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1].startswith("Z"):
            time.sleep(0.05)  # exited, and not waited for: a zombie
        trial_id = running_trial(study, f"{socket.gethostname()}:{proc.pid}",
                                 time.time() + 3600, host=host_key())
        reap_stale(study, study.history(), stale_after_s=3600)
        record = study.record(trial_id)
        assert record.state == "FAIL" and "is no longer running" in record.fail_reason
    finally:
        proc.wait()


def test_live_trials_are_left_alone(study):
    fresh_elsewhere = running_trial(study, "otherhost:1", time.time() + 60, host="other/host")
    mine = running_trial(study, worker_id(), time.time() + 60, host=host_key())
    same_host_other_namespace = running_trial(study, f"{socket.gethostname()}:{dead_pid()}",
                                              time.time() + 60, host="another/namespace")
    assert reap_stale(study, study.history(), stale_after_s=60) == []
    states = {study.record(t).state for t in (fresh_elsewhere, mine, same_host_other_namespace)}
    assert states == {"RUNNING"}


def test_a_trial_without_a_lease_expires_after_its_start_plus_the_grace(study):
    trial_id, _ = study.create_trial()
    record = study.record(trial_id)
    assert stale_reason(record, record.started + 5, stale_after_s=10) is None
    assert stale_reason(record, record.started + 11, stale_after_s=10).startswith("stale:")


def test_a_completed_trial_is_never_changed_by_a_reaper_with_an_old_view(study):
    trial_id = running_trial(study, "otherhost:9", time.time() - 5)
    old_view = study.history()  # the reaper read it as stale...
    study.set_user_attrs(trial_id, {"val_score": 0.9})
    study.finish(trial_id, "COMPLETE", 0.9)  # ...but its worker finished first
    before = study.record(trial_id)
    assert reap_stale(study, old_view, stale_after_s=60) == []
    after = study.record(trial_id)
    assert after.state == "COMPLETE" and after.value == 0.9
    assert after.user_attrs == before.user_attrs and not after.requeue
    assert after.fail_reason is None


def test_the_lease_thread_renews_and_notices_a_lost_trial(study):
    trial_id, _ = study.create_trial()
    lease = Lease(study, trial_id, heartbeat_s=0.05, stale_after_s=0.2).start()
    try:
        first = study.record(trial_id).lease_until
        time.sleep(0.3)
        assert study.record(trial_id).lease_until > first
        assert study.record(trial_id).host_key == host_key()
        assert stale_reason(study.record(trial_id), time.time(), 0.2) is None
        study.set_system_attrs(trial_id, {REQUEUE: True})
        study.finish(trial_id, "FAIL")  # another worker failed it as stale
        deadline = time.time() + 5
        while not lease.lost and time.time() < deadline:
            time.sleep(0.05)
        assert lease.lost
    finally:
        lease.stop()


def test_status_sees_a_worker_by_its_heartbeat_while_it_trains():
    from nas.search.history import History, TrialRecord
    from nas.search.status import _per_worker

    now = time.time()
    long_running = TrialRecord(trial_id=0, number=0, state="RUNNING", value=None, worker="w:1",
                               started=now - 900, lease_until=now + 55)
    [row] = _per_worker(History.of([long_running]), now, stale_after_s=60)
    assert row["running"] == 1 and row["last_seen_s"] == 5.0  # renewed 5 s ago, not 900
