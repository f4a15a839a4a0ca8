"""The same protocol on PostgreSQL (Optuna's RDB storage): races, workers, killed workers.

The server is ``NAS_TEST_POSTGRES_URL`` (e.g. ``postgresql://nas@127.0.0.1:5432/nas``), else
a throwaway one on loopback (``nas.search.perf.pgserver``, where the server binaries are installed);
without either these tests are skipped, except under CI where they fail (see the
``postgres_url`` fixture). Each test uses a study name of its own.
"""

from __future__ import annotations

import getpass
import json
import re
import subprocess
import sys
import uuid

import pytest
from search_checks import SEARCH, check_killed_trial, check_run, kill_9_mid_trial, network

from nas.search.testing import run_protocol_faults, run_protocol_race

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_three_racing_workers_on_postgresql(postgres_url, archs):
    history, _ = run_protocol_race(postgres_url, fresh("race"), "ffn", [str(a) for a in archs],
                                   budget=5, workers=3)
    ids = [r.arch_id for r in history.evaluated]
    assert len(ids) == 5 and len(set(ids)) == 5 and not history.running


def test_workers_killed_at_random_moments_on_postgresql_lose_and_repeat_nothing(
        postgres_url, space):
    """kill -9 a worker in the middle of a trial K times: every planned evaluation is
    complete exactly once, and no completed trial is lost."""
    texts = sorted({str(space.sample((13,), seed=s)) for s in range(100)})[:12]
    history, hits = run_protocol_faults(postgres_url, fresh("faults"), "ffn", texts, budget=8,
                                        workers=3, kills=2, eval_seconds=0.8, seed=1)
    assert hits == 2  # each kill hit a worker in the middle of a trial
    ids = [r.arch_id for r in history.evaluated]
    assert len(ids) == 8 and len(set(ids)) == 8  # exact budget, each arch once
    networks = {network(r) for r in history.evaluated}
    assert all(r.state == "COMPLETE" for r in history.evaluated)  # none lost or failed
    assert not history.running
    stale = [r for r in history.records if (r.fail_reason or "").startswith("stale")]
    assert len(stale) == hits and all(r.requeue or r.discarded for r in stale)
    # a killed trial's architecture, if it had claimed one, was evaluated (as itself or as
    # another string of the same network: claims are keyed by function)
    for r in stale:
        assert r.discarded if r.arch_id is None else network(r) in networks


def test_a_killed_worker_on_postgresql_is_replaced(postgres_url, workdir):
    url = postgres_url
    study = fresh("pg")
    proc = subprocess.Popen([*SEARCH, "-n", "5", "--workers", "2", "--storage", url,
                             "--study", study], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    victim = kill_9_mid_trial(workdir, proc)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    history = check_run(workdir / "run", 5)
    check_killed_trial(history, victim)
    assert [r.arch_id for r in history.evaluated].count(victim.arch_id) == 1
    assert json.loads(out.strip().splitlines()[-1])["storage"].startswith("postgresql")
    status = subprocess.run([sys.executable, "-m", "nas", "status", "--storage", url,
                             "--study", study, "--json"], capture_output=True, text=True,
                            check=True)
    assert json.loads(status.stdout)["completed"] + json.loads(status.stdout)["failed"] == 5


def test_the_password_is_never_written_down(postgres_url, workdir):
    from nas.search import SearchConfig, SearchStudy, run_search

    url = postgres_url
    if "@" in url:  # user@host: add a password (ignored by trust authentication)
        with_password = re.sub(r"://([^:@/]+)@", r"://\1:not-a-secret@", url, count=1)
    else:
        with_password = url.replace("://", f"://{getpass.getuser()}:not-a-secret@", 1)
    if "not-a-secret" not in with_password:
        pytest.skip("NAS_TEST_POSTGRES_URL already carries a password")
    study = fresh("pw")
    run_search(SearchConfig(grammar="ffn", task="wine", budget=1, epochs=1, tune_trials=1,
                            seed_references=False, storage=with_password, study=study,
                            out="run"),
               command=f"nas search --storage {with_password}")
    assert "not-a-secret" not in (workdir / "run" / "run.json").read_text()
    attrs = SearchStudy.open(url, study, create=False).user_attrs()
    assert "not-a-secret" not in json.dumps(attrs)
