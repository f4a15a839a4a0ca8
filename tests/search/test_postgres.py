"""The same protocol on PostgreSQL (Optuna's RDB storage): races, workers, a killed worker.

Needs a server: set ``NAS_TEST_POSTGRES_URL`` (e.g. ``postgresql://nas@127.0.0.1:5432/nas``);
otherwise these tests are skipped. Each test uses a study name of its own.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest
from search_checks import SEARCH, check_run, wait_for_running

from nas.search.testing import run_protocol_race

URL = os.environ.get("NAS_TEST_POSTGRES_URL")
pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(not URL, reason="set NAS_TEST_POSTGRES_URL to run")]


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_three_racing_workers_on_postgresql(archs):
    history, _ = run_protocol_race(URL, fresh("race"), "ffn", [str(a) for a in archs],
                                   budget=5, workers=3)
    ids = [r.arch_id for r in history.evaluated]
    assert len(ids) == 5 and len(set(ids)) == 5 and not history.running


def test_a_killed_worker_on_postgresql_is_replaced(workdir):
    study = fresh("pg")
    proc = subprocess.Popen([*SEARCH, "-n", "5", "--workers", "2", "--storage", URL,
                             "--study", study], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    victim = wait_for_running(workdir, proc)
    os.kill(int(victim.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    history = check_run(workdir / "run", 5)
    assert history.get(victim.trial_id).requeue
    assert json.loads(out.strip().splitlines()[-1])["storage"].startswith("postgresql")
    status = subprocess.run([sys.executable, "-m", "nas", "status", "--storage", URL,
                             "--study", study, "--json"], capture_output=True, text=True,
                            check=True)
    assert json.loads(status.stdout)["completed"] + json.loads(status.stdout)["failed"] == 5


def test_the_password_is_never_written_down(workdir):
    from nas.search import SearchConfig, SearchStudy, run_search

    if "@" in URL:  # user@host: add a password (ignored by trust authentication)
        with_password = re.sub(r"://([^:@/]+)@", r"://\1:not-a-secret@", URL, count=1)
    else:
        with_password = URL.replace("://", f"://{getpass.getuser()}:not-a-secret@", 1)
    if "not-a-secret" not in with_password:
        pytest.skip("NAS_TEST_POSTGRES_URL already carries a password")
    study = fresh("pw")
    run_search(SearchConfig(grammar="ffn", task="wine", budget=1, epochs=1, tune_trials=1,
                            storage=with_password, study=study, out="run"),
               command=f"nas search --storage {with_password}")
    assert "not-a-secret" not in (workdir / "run" / "run.json").read_text()
    attrs = SearchStudy.open(URL, study, create=False).user_attrs()
    assert "not-a-secret" not in json.dumps(attrs)
