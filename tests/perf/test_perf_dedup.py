"""``nas perf dedup`` on a small scale: the replay keyed by function makes no duplicate
evaluation, and the study count finds the equivalent strings of a real study."""

from __future__ import annotations

from nas.canonical import function_key
from nas.search.perf.dedup import replay, study_duplicates, synthetic_score
from nas.search.study import SearchStudy
from nas.space import load_space


def test_the_replay_keyed_by_function_evaluates_each_network_once():
    after = replay("mnist1d", 60, function_keys=True)
    assert after["evaluations"] == 60 and after["duplicates"] == 0
    assert after["proposals"] >= 60


def test_the_study_count_finds_strings_of_one_network(tmp_path):
    spec = str(tmp_path / "s.journal")
    study = SearchStudy.open(spec, "s", direction="maximize")
    texts = ["routing(identity, linear(32), identity)", "sequential(linear(32), identity)",
             "sequential(linear(16), tanh)", "sequential(identity, linear(32))"]
    for i, text in enumerate(texts):
        trial_id, _ = study.create_trial({"arch": text, "arch_id": f"{i:012d}"})
        study.update(trial_id, state="COMPLETE", value=0.5)
    study.create_trial({"arch": texts[0], "arch_id": "0" * 12})  # running: not evaluated
    assert study_duplicates(spec, "s", (40, 1)) == (4, 2)


def test_synthetic_scores_are_fixed_by_the_network():
    space = load_space("einspace")
    a = function_key(space, space.parse("sequential(linear(32), identity)"), (40, 1))
    b = function_key(space, space.parse("routing(identity, linear(32), identity)"), (40, 1))
    assert synthetic_score(a, None) == synthetic_score(b, None)
    assert synthetic_score(a, 0.5) == synthetic_score(b, 0.5) != synthetic_score(a, 0.6)
