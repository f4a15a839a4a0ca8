"""Predictor-guided search: valid, unique, reproducible proposals; the study's predictor is
refitted as results arrive and ranks in the task's direction; clean fallbacks; end to end."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from search_checks import check_run

from bench.leaderboard import load_leaderboard
from bench.store import OnnxBenchStore
from nas.canonical import function_key
from nas.cli import run_app
from nas.errors import NasError, PredictorError
from nas.heads import HeadSpec
from nas.search.config import SearchConfig
from nas.search.history import History, TrialRecord
from nas.search.predictor_strategy import PredictorStrategy, lineages
from nas.search.strategies import Proposal, RandomStrategy
from predictors import OnnxNetPredictor, kendall_tau
from predictors.trainability import TrainabilityClassifier

SHAPE = (13,)  # wine
HEAD = HeadSpec("classification", 3)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def log_params(space, arch) -> float:
    """A score the predictor can learn from the graph: log of the parameter count."""
    return math.log(space.check(arch, SHAPE, HEAD).params)


def records(space, n, score=log_params, seed0=0, number0=0) -> list[TrialRecord]:
    """``n`` completed trials of distinct ffn architectures scored by ``score``."""
    found, seed = {}, seed0
    while len(found) < n:
        arch = space.sample(SHAPE, seed=seed, head=HEAD)
        found.setdefault(arch.id, arch)
        seed += 1
    return [TrialRecord(trial_id=number0 + i, number=number0 + i, state="COMPLETE",
                        value=score(space, a), arch=str(a), arch_id=a.id)
            for i, a in enumerate(found.values())]


def running(proposal, number: int) -> TrialRecord:
    return TrialRecord(trial_id=number, number=number, state="RUNNING", value=None,
                       arch=str(proposal.arch), arch_id=proposal.arch.id)


def strategy(space, **options) -> PredictorStrategy:
    options = {"candidates": 16, "warmup": 4, "default_predictor": False, **options}
    return PredictorStrategy(space, SHAPE, HEAD, **options)


def test_proposals_are_valid_unique_and_the_same_for_every_worker(space, seed):
    done = records(space, 6)
    history = History.of(done)
    first = strategy(space, seed=seed).propose(history, random.Random(0))
    again = strategy(space, seed=seed).propose(history, random.Random(1))  # another worker
    assert first.arch == again.arch and first.attrs == again.attrs
    s, seen = strategy(space, seed=seed), set()
    for number in range(6, 12):
        proposal = s.propose(history, random.Random(number))
        space.check(proposal.arch, SHAPE, HEAD)
        assert proposal.arch.id not in history.claimed_ids() | seen
        assert proposal.attrs["predictor"] == "study:6"
        assert proposal.origin == "random" or proposal.origin.startswith("mutation:")
        seen.add(proposal.arch.id)
        history = History.of([*history.records, running(proposal, number)])


def test_the_predictor_is_refitted_as_results_arrive(space):
    s, done = strategy(space), records(space, 6)
    fitted, source = s.ranker(History.of(done[:4]))
    assert source == "study:4"
    assert s.ranker(History.of(done[:4]))[0] is fitted  # cached while nothing changes
    proposal = s.propose(History.of(done[:4]), random.Random(0))
    with_running = History.of([*done[:4], running(proposal, 4)])
    assert s.ranker(with_running)[0] is fitted  # a running trial is no result
    refitted, source = s.ranker(History.of(done[:5]))
    assert source == "study:5" and refitted is not fitted and refitted.n_train_ == 5


def test_the_study_predictor_learns_the_results(space):
    s = strategy(space)
    train, test = records(space, 24), records(space, 24, seed0=5000)
    predictor, _ = s.ranker(History.of(train))
    predicted = predictor.predict([s.graph(space.parse(r.arch)) for r in test])
    assert kendall_tau(predicted, [r.value for r in test]) > 0.6


@pytest.mark.parametrize("maximize", [True, False])
def test_the_top_candidate_in_the_task_direction_is_proposed(space, maximize):
    s, history = strategy(space), History.of(records(space, 8), maximize=maximize)
    proposal = s.propose(history, random.Random(0))
    predictor, _ = s.ranker(history)
    pool = s.candidate_pool(history)
    scores = predictor.predict([s.graph(p.arch) for p in pool])
    sign = 1.0 if maximize else -1.0  # the predictor ranks oriented scores
    assert proposal.arch.id == pool[int(scores.argmax())].arch.id
    assert proposal.attrs["predicted_score"] == pytest.approx(sign * scores.max())


def test_the_pool_slides_by_one_block_per_evaluation(space):
    s, done = strategy(space), records(space, 9)
    before = {p.arch.id for p in s.candidate_pool(History.of(done[:8]))}
    after = {p.arch.id for p in s.candidate_pool(History.of(done))}
    assert len(before) >= 12 and len(before & after) >= len(before) // 2


def test_the_pool_leaves_out_networks_held_under_another_string(space):
    s, done = strategy(space), records(space, 8)
    history = History.of(done)
    top = s.propose(history, random.Random(0))
    key = function_key(space, top.arch, SHAPE)
    # another string of the top candidate's network is claimed (a made-up arch id; a
    # running trial, so the pool's blocks stay the same)
    twin = TrialRecord(trial_id=8, number=8, state="RUNNING", value=None, arch=str(top.arch),
                       arch_id="0" * 12, function_key=key)
    held = History.of([*done, twin])
    assert held.holds(top.arch.id, function_key=key)
    assert key not in {function_key(space, p.arch, SHAPE) for p in s.candidate_pool(held)}
    assert s.propose(held, random.Random(0)).arch != top.arch


def test_without_enough_results_it_proposes_what_random_search_would(space, seed):
    history = History.of(records(space, 3))  # warmup is 4
    proposal = strategy(space).propose(history, random.Random(seed))
    expected = RandomStrategy(space, SHAPE, HEAD).propose(history, random.Random(seed))
    assert proposal.arch == expected.arch and proposal.origin == "random"
    assert proposal.attrs == {}


def test_equal_scores_teach_nothing_and_fall_back_to_random(space):
    history = History.of(records(space, 6, score=lambda space, arch: 1.0))
    proposal = strategy(space).propose(history, random.Random(0))
    assert proposal.origin == "random" and proposal.attrs == {}


def test_an_unreadable_default_predictor_falls_back_to_random(space, tmp_path):
    path = tmp_path / "broken.predictor"
    path.write_bytes(b"not a predictor")
    proposal = strategy(space, default_predictor=path).propose(History.of([]),
                                                               random.Random(0))
    assert proposal.origin == "random" and proposal.attrs == {}


def test_the_default_predictor_ranks_until_the_study_has_results(space, tmp_path):
    s, done = strategy(space), records(space, 6)
    views = [s.graph(space.parse(r.arch)) for r in done]
    path = OnnxNetPredictor().fit(views, [r.value for r in done]).save(tmp_path / "d.predictor")
    s = strategy(space, default_predictor=path)
    early = s.propose(History.of(done[:2]), random.Random(0))
    assert early.attrs == {"predictor": "default"}  # not in the task's metric: no score
    late = s.propose(History.of(done), random.Random(0))
    assert late.attrs["predictor"] == "study:6" and "predicted_score" in late.attrs


def test_candidates_are_encoded_as_their_trained_exports_are(space):
    """The ranking reads an untrained re-export; the store holds the trained one."""
    from nas.builder import build_model
    from nas.export import export_onnx

    arch = space.sample(SHAPE, seed=3, head=HEAD)
    torch.manual_seed(123)
    trained_like = build_model(arch, space, SHAPE, HEAD)
    stored = export_onnx(trained_like, SHAPE).model  # what the search writes
    texts = OnnxNetPredictor().texts([stored, strategy(space).graph(arch)])
    assert texts[0] == texts[1]


@pytest.mark.parametrize("options, message", [
    ({"candidates": 0}, "candidates must"), ({"predictor_warmup": 1}, "predictor_warmup must"),
    ({"strategy": "bayes"}, "strategy .bayes. is not one of"),
])
def test_bad_predictor_options_are_refused(options, message):
    with pytest.raises(NasError, match=message):
        SearchConfig(**options)


@pytest.mark.slow
def test_search_with_the_predictor_strategy_end_to_end(workdir, monkeypatch, capsys):
    monkeypatch.setattr("predictors.shipped.default_predictor_path",
                        lambda: workdir / "none.predictor")  # as if none is shipped
    args = ["search", "-g", "ffn", "-t", "wine", "--strategy", "predictor", "-n", "6",
            "--candidates", "16", "--predictor-warmup", "3", "--epochs", "1",
            "--tune-trials", "1", "--json"]
    assert run_app(args) == 0
    run = workdir / "runs" / "ffn-wine"
    history = check_run(run, 6)
    ranked = 0
    for r in history.evaluated:
        # what the proposal could see: trials completed before it was claimed (a trial
        # completes once its export is written, after the next trial's claim)
        before = [p for p in history.completed if p.finished <= r.started]
        learnable = len(before) >= 3 and len({p.value for p in before}) >= 2
        assert r.user_attrs["strategy"] == "predictor"
        if r.user_attrs["origin"].startswith("reference:"):  # proposed before any strategy
            assert "predictor" not in r.user_attrs
        elif learnable:
            assert r.user_attrs["predictor"] == f"study:{len(before)}"
            assert math.isfinite(r.user_attrs["predicted_score"])
            ranked += 1
        else:
            assert "predictor" not in r.user_attrs and r.user_attrs["origin"] == "random"
    assert ranked >= 1
    index = OnnxBenchStore(run / "bench").to_dataframe().set_index("arch_id")
    for r in history.completed:
        assert index.loc[r.arch_id, "predicted_score"] == pytest.approx(
            r.user_attrs.get("predicted_score", float("nan")), nan_ok=True)
    board = load_leaderboard(run=run)
    assert board.rows["predicted_score"].notna().sum() == sum(
        1 for r in history.completed if "predicted_score" in r.user_attrs)


def lineage_history(space, dominant: bool) -> History:
    """Trials 0 (root A) and 1 (root D), then 8 more: all descendants of A in a chain
    (``dominant``), or each a fresh sample of its own."""
    base = records(space, 10)
    out = []
    for r in base:
        parents = None
        if dominant and r.number >= 2:
            parents = [base[r.number - 1].arch_id if r.number > 2 else base[0].arch_id]
        out.append(TrialRecord(r.trial_id, r.number, r.state, r.value, arch=r.arch,
                               arch_id=r.arch_id, user_attrs={"parents": parents}))
    return History.of(out)


def test_lineages_follow_first_parents_to_the_root(space):
    history = lineage_history(space, dominant=True)
    roots = lineages(history)
    ids = [r.arch_id for r in history.records]
    assert all(roots[i] == ids[0] for i in ids[2:]) and roots[ids[1]] == ids[1]


def test_a_lineage_that_took_every_recent_slot_yields_to_a_fresh_sample(space):
    s = strategy(space)
    fresh = [Proposal(a, "random") for a in
             (space.sample(SHAPE, seed=1000 + k, head=HEAD) for k in range(4))]
    for dominant, expect in ((True, 1), (False, 0)):
        history = lineage_history(space, dominant)
        last = history.records[-1].arch_id  # a member of lineage A when dominant
        mutant = Proposal(space.sample(SHAPE, seed=2000, head=HEAD), "mutation:leaf", (last,))
        pool = [mutant, *fresh]
        scores = [0.9, 0.8, 0.3, 0.2, 0.1]  # the predictor prefers the mutant
        merit = s._diverse_merit(pool, scores, history)
        assert max(range(len(pool)), key=lambda i: (merit[i], -i)) == expect
    leaders = s._lineage_leaders(lineage_history(space, dominant=True))
    assert len({lineages(lineage_history(space, True))[r.arch_id] for r in leaders}) == 2


def test_a_trainability_classifier_narrows_the_candidates(space, tmp_path):
    plain = strategy(space)
    train = [plain.graph(space.parse(r.arch)) for r in records(space, 40, seed0=500)]
    sizes = np.array([g.params for g in train])
    labels = sizes > np.median(sizes)  # "trains" = the larger half, learnable from the graph
    path = TrainabilityClassifier(regressor_params={"max_iter": 40}).fit(train, labels) \
        .save(tmp_path / "t.classifier")
    s, history = strategy(space, trainability=path), History.of(records(space, 8))
    encoded = [(p, s.graph(p.arch)) for p in s.candidate_pool(history)]
    p = s.trainability.predict_proba([g for _, g in encoded])[:, 1]
    kept = {pair[0].arch.id for pair in s.likely_to_train(encoded)}
    assert 0 < len(kept) < len(encoded)
    passing = p >= s.min_trainability  # 0.3 by default
    assert kept == {pair[0].arch.id for pair, ok in zip(encoded, passing, strict=True) if ok}
    assert s.propose(history, random.Random(0)).arch.id in kept
    strict = strategy(space, trainability=path, min_trainability=float(p.max()) + 1e-9)
    assert strict.likely_to_train(encoded) == encoded  # none passes: the pool is not emptied


def test_a_bad_trainability_file_or_threshold_is_refused(space, tmp_path):
    with pytest.raises(PredictorError, match="not a predictor file|no such|does not exist"):
        strategy(space, trainability=tmp_path / "missing.classifier")
    with pytest.raises(NasError, match="min_trainability must lie in"):
        SearchConfig(min_trainability=1.5)
