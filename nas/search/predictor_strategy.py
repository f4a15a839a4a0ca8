"""Predictor-guided search: rank many candidates by an ONNX-Net predictor, train the top one.

Each proposal ranks a pool of about ``candidates`` architectures (three quarters fresh
samples of the grammar, one quarter small-step mutants of the best architecture of each
of the best lineages once there are any) with an :class:`~predictors.OnnxNetPredictor`
and proposes the best-ranked one that no trial holds yet, after a **diversity** term:
a candidate's rank (0..1) loses ``DIVERSITY_WEIGHT`` x the share of the last
``DIVERSITY_WINDOW`` proposals that came from its lineage (the chain of first parents
back to a fresh sample or reference), so one family cannot take every slot. Only that
one is trained. The pool slides: each evaluation replaces a quarter of it
(:meth:`PredictorStrategy.candidate_pool`), so a proposal encodes about
``candidates / 4`` new graphs.

Which predictor ranks:

* **study**: once the study has ``warmup`` completed evaluations, a predictor fitted on
  them (their architectures and validation scores, oriented so that higher is better).
  It is refitted whenever the set of completed evaluations changes; the fit is cached
  per process, keyed by that set, so proposals in between reuse it.
* **default**: before that, the predictor shipped in the package
  (``predictors/data/default.predictor``, the one ``nas predict`` uses), if it exists
  and loads.
* neither: a fresh random sample, as random search would propose.

With a **trainability** classifier (``--trainability FILE``, a
:class:`~predictors.trainability.TrainabilityClassifier`), only the candidates whose
probability of leaving chance is at least ``--min-trainability`` are ranked (all of
them when none is: the filter narrows the pool, it never empties it).

The strategy is stateless like the others: the proposal is a function of the history
and the search's seed, whichever worker makes it (the caches only save work).

Candidates and the study's own architectures are encoded the same way, from an
untrained model built with the task's head and exported with the TorchScript exporter
without onnxruntime parity: the text and graph features read shapes and wiring, not
weight values, so a trained model and an untrained one encode the same (a test checks
it against the search's own export), and
re-exporting (rather than reading the run's store) keeps training and candidate
features identical even when a stored file was written by the dynamo fallback, or not
written at all (``--no-export``, a store on another machine). These exports are never
kept.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from pathlib import Path

from nas.architecture import Architecture
from nas.canonical import function_key
from nas.errors import ArchitectureError, NasError
from nas.search.history import History, TrialRecord, fitness
from nas.search.strategies import Proposal, Strategy

#: defaults of ``--candidates`` and ``--predictor-warmup``: candidates ranked per
#: proposal, own results before the study's predictor is refitted
DEFAULT_CANDIDATES = 64
DEFAULT_PREDICTOR_WARMUP = 8
#: default ``--min-trainability``: on 45 fresh einspace/digits networks (12 leave chance),
#: a classifier trained on the index keeps 15 at 0.3, 10 of which leave chance, and loses
#: 2 of the 12; at 0.5 it keeps 6 and loses 8 (docs/predictor.md, "Trainability")
DEFAULT_MIN_TRAINABILITY = 0.3

log = logging.getLogger(__name__)

#: mutants are made from this many of the best completed architectures
MUTANT_PARENTS = 4
#: the candidate pool is a window of this many blocks (see candidate_pool)
POOL_BLOCKS = 4
#: proposals (most recent first) over which a lineage's share is counted
DIVERSITY_WINDOW = 8
#: rank units a candidate loses per share of the window its lineage holds
DIVERSITY_WEIGHT = 0.5
#: encoded candidate graphs kept per process (the study's own are kept apart, all of them)
_CANDIDATE_CACHE = 1024


class PredictorStrategy(Strategy):
    """Predictor-guided search; see the module docstring.

    Args:
        space, input_shape, head: as for every :class:`Strategy`.
        candidates: architectures ranked per proposal.
        warmup: completed evaluations before the study's own predictor is used (>= 2).
        default_predictor: predictor file used before that; None for the shipped one,
            ``False`` for none (random proposals until ``warmup``).
        seed: seed of the candidate generators (the search's ``--seed``).
        trainability: a trainability classifier file filtering the candidates; None: none.
        min_trainability: the filter's threshold on P(leaves chance).

    Raises:
        PredictorError: the trainability file cannot be read.
    """

    name = "predictor"

    def __init__(self, space, input_shape, head, *, candidates: int = DEFAULT_CANDIDATES,
                 warmup: int = DEFAULT_PREDICTOR_WARMUP,
                 default_predictor: str | Path | bool | None = None, seed: int = 0,
                 mutation: str = "small", trainability: str | Path | None = None,
                 min_trainability: float = DEFAULT_MIN_TRAINABILITY):
        super().__init__(space, input_shape, head)
        self.trainability = _load_trainability(trainability) if trainability else None
        self.min_trainability = float(min_trainability)
        self.small = mutation == "small"
        self.candidates, self.warmup = int(candidates), max(2, int(warmup))
        self.seed = seed
        self._generated_archs: OrderedDict[tuple, object] = OrderedDict()
        self.default_predictor = default_predictor
        self._history_graphs: dict[str, object] = {}  # arch id -> GraphView (or None)
        self._candidate_graphs: OrderedDict[str, object] = OrderedDict()
        self._fitted: tuple[tuple, object] | None = None  # (training set key, predictor)
        self._default: object | None | bool = False  # False: not loaded yet
        self._keys: dict[str, str | None] = {}  # arch id -> function key

    # --- proposals ------------------------------------------------------------------

    def propose(self, history: History, rng: random.Random) -> Proposal:
        """The best-ranked candidate not held by any trial (a random sample while no
        predictor is available, or when no candidate can be encoded)."""
        ranker = self.ranker(history)
        if ranker is None:
            return self.sample(rng)
        predictor, source = ranker
        pool = self.candidate_pool(history)
        encoded = self.likely_to_train(
            [(p, g) for p in pool if (g := self.graph(p.arch)) is not None])
        if not encoded:
            return self.sample(rng)
        scores = predictor.predict([g for _, g in encoded])
        merit = self._diverse_merit([p for p, _ in encoded], scores, history)
        best = max(range(len(encoded)), key=lambda i: (merit[i], -i))  # first on ties
        chosen, attrs = encoded[best][0], {"predictor": source}
        if source.startswith("study"):  # in the task's metric: the leaderboard shows it
            sign = 1.0 if history.maximize else -1.0
            attrs["predicted_score"] = float(sign * scores[best])
        return Proposal(chosen.arch, chosen.origin, chosen.parents, attrs)

    def candidate_pool(self, history: History) -> list[Proposal]:
        """About ``candidates`` distinct networks that no trial holds, by arch id or
        by function key (:mod:`nas.canonical`: the proposer skips a held network under
        any string, and this strategy, deterministic for a history, would offer it
        again and again).

        The pool is a window over numbered *blocks*: with E evaluations so far it holds
        blocks E-3..E, each a quarter of the candidates (three quarters fresh samples,
        one quarter mutants of the best completed architectures once there are any),
        drawn from generators seeded by (seed, block, parent). The next evaluation moves
        the window by one block, so a proposal encodes only the newest quarter (and
        mutants of a new best): the rest are the same architectures as before, already
        encoded in this process. Another worker with the same history gets the same pool.
        """
        taken = history.claimed_ids()
        parents = self._lineage_leaders(history)[:MUTANT_PARENTS]
        newest = len(history.evaluated)
        pool: dict[str, Proposal] = {}
        for block in range(newest, newest - POOL_BLOCKS, -1):  # newest first: ties go to it
            for proposal in self._block(block, parents):
                key = self._network(proposal.arch)
                if proposal.arch.id not in taken and key not in taken:
                    pool.setdefault(key or proposal.arch.id, proposal)
        return list(pool.values())

    def _network(self, arch) -> str | None:
        """``arch``'s function key as the proposer computes it (None: it cannot be typed)."""
        if arch.id not in self._keys:
            if len(self._keys) > 8 * self.candidates:  # the pool moves on: old keys go
                self._keys.clear()
            try:
                self._keys[arch.id] = function_key(self.space, arch, self.input_shape)
            except ArchitectureError:
                self._keys[arch.id] = None
        return self._keys[arch.id]

    def _block(self, block: int, parents: list[TrialRecord]) -> list[Proposal]:
        """Candidates of one block: mutants of ``parents``, then fresh samples."""
        size = -(-self.candidates // POOL_BLOCKS)
        n_mutants = size // 4 if parents else 0
        found = []
        for k in range(n_mutants):
            parent = parents[k % len(parents)]  # keyed by parent: a new best changes few
            key = (block, "m", parent.arch_id, k // len(parents))
            made = self._generated(key, lambda rng, p=parent:
                                   self.mutant(self.space.parse(p.arch), rng, self.small))
            if made is not None:
                found.append(Proposal(made[0], made[1], (parent.arch_id,)))
        for k in range(n_mutants, size):
            arch = self._generated((block, "s", k), lambda rng:
                                   self.space.sample(self.input_shape, rng, self.head))
            if arch is not None:
                found.append(Proposal(arch, "random"))
        return found

    def _generated(self, key: tuple, make):
        """``make(rng)`` with a generator seeded by (seed, key); cached, None on failure."""
        if key not in self._generated_archs:
            rng = random.Random(f"nas-predictor/{self.seed}/" + "/".join(map(str, key)))
            try:
                self._generated_archs[key] = make(rng)
            except NasError:
                self._generated_archs[key] = None
            if len(self._generated_archs) > _CANDIDATE_CACHE:
                self._generated_archs.popitem(last=False)
        return self._generated_archs[key]

    def likely_to_train(self, encoded: list[tuple]) -> list[tuple]:
        """The (proposal, graph) pairs whose P(leaves chance) is at least
        ``min_trainability``; all of them without a classifier or when none is."""
        if self.trainability is None or not encoded:
            return encoded
        p = self.trainability.predict_proba([g for _, g in encoded])[:, 1]
        kept = [pair for pair, pi in zip(encoded, p, strict=True) if pi >= self.min_trainability]
        return kept or encoded

    # --- predictors -----------------------------------------------------------------

    def ranker(self, history: History) -> tuple[object, str] | None:
        """(predictor, source) for this history: ``("study:<n>")`` fitted on its n
        completed evaluations, ``"default"``, or None when neither is available."""
        records = self._training_records(history)
        if len(records) >= self.warmup:
            fitted = self._study_predictor(records, history.maximize)
            if fitted is not None:
                return fitted, f"study:{len(records)}"
        default = self._default_predictor()
        return (default, "default") if default is not None else None

    def _training_records(self, history: History) -> list[TrialRecord]:
        return [r for r in history.records if r.score is not None and r.arch]

    def _study_predictor(self, records: list[TrialRecord], maximize: bool):
        """A predictor fitted on ``records`` (cached while they stay the same)."""
        key = tuple((r.number, r.score) for r in records)
        if self._fitted is not None and self._fitted[0] == key:
            return self._fitted[1]
        # predictors (scikit-learn, onnx): only when this strategy runs, since every CLI
        # command imports the strategies through nas.search.config (issue 16)
        from predictors import OnnxNetPredictor

        sign = 1.0 if maximize else -1.0
        pairs = [(g, sign * r.score) for r in records
                 if (g := self._history_graph(r)) is not None]
        predictor = None
        if len({y for _, y in pairs}) >= 2:  # a constant target ranks nothing
            try:
                predictor = OnnxNetPredictor().fit([g for g, _ in pairs], [y for _, y in pairs])
            except NasError as exc:
                log.warning("cannot fit the study's predictor (%s); using the default", exc)
        self._fitted = (key, predictor)
        return predictor

    def _default_predictor(self):
        """The default predictor, loaded once (None if absent, disabled or unreadable)."""
        if self._default is not False:
            return self._default
        self._default = None
        if self.default_predictor is False:
            return None
        # predictors (scikit-learn, onnx): only when this strategy runs, since every CLI
        # command imports the strategies through nas.search.config (issue 16)
        from predictors import OnnxNetPredictor
        from predictors.shipped import default_predictor_path

        path = Path(self.default_predictor or default_predictor_path())
        if not path.is_file():
            return None

        try:
            self._default = OnnxNetPredictor.load(path)
        except NasError as exc:
            log.warning("default predictor not used: %s", exc)
        return self._default

    # --- graphs -----------------------------------------------------------------------

    def graph(self, arch: Architecture):
        """The encoded graph of ``arch`` built for this task (None if it cannot be)."""
        if arch.id in self._history_graphs:
            return self._history_graphs[arch.id]
        if arch.id in self._candidate_graphs:
            self._candidate_graphs.move_to_end(arch.id)
            return self._candidate_graphs[arch.id]
        view = self._encode(arch)
        self._candidate_graphs[arch.id] = view
        if len(self._candidate_graphs) > _CANDIDATE_CACHE:
            self._candidate_graphs.popitem(last=False)
        return view

    def _history_graph(self, record: TrialRecord):
        if record.arch_id not in self._history_graphs:
            try:
                arch = self.space.parse(record.arch)
            except NasError:
                return None
            view = self._candidate_graphs.pop(arch.id, None) or self._encode(arch)
            self._history_graphs[record.arch_id] = view
        return self._history_graphs[record.arch_id]

    def _encode(self, arch: Architecture):
        """Build the untrained model, export it (no parity) and read its graph."""
        # torch and predictors: only when this strategy runs, since every CLI command
        # imports the strategies through nas.search.config (issue 16)
        import torch

        from nas.builder import build_model
        from nas.export import export_onnx
        from predictors.graph import load_graph

        try:
            with torch.random.fork_rng(devices=[]):  # leave the training seeds alone
                model = build_model(arch, self.space, self.input_shape, self.head)
                proto = export_onnx(model, self.input_shape, exporter="torchscript",
                                    parity=False).model
            return load_graph(proto)
        except Exception as exc:  # a candidate that cannot be encoded is only skipped
            log.debug("candidate %s cannot be encoded: %s", arch.id, exc)
            return None

    # --- diversity --------------------------------------------------------------------

    def _diverse_merit(self, pool: list[Proposal], scores, history: History) -> list[float]:
        """Each candidate's rank by predicted score (0 worst .. 1 best) minus
        :data:`DIVERSITY_WEIGHT` x the share of the last :data:`DIVERSITY_WINDOW`
        proposals that came from its lineage: a lineage that took every recent slot
        needs a predicted rank half the range above a fresh sample's to take another."""
        order = sorted(range(len(pool)), key=lambda i: scores[i])
        rank = {i: k / max(1, len(pool) - 1) for k, i in enumerate(order)}
        roots = lineages(history)
        recent = [roots.get(r.arch_id, r.arch_id) for r in history.records
                  if r.consuming and r.arch_id][-DIVERSITY_WINDOW:]
        share = {root: recent.count(root) / DIVERSITY_WINDOW for root in set(recent)}
        return [rank[i] - DIVERSITY_WEIGHT * share.get(
            roots.get(p.parents[0], p.parents[0]) if p.parents else p.arch.id, 0.0)
            for i, p in enumerate(pool)]

    def _lineage_leaders(self, history: History) -> list[TrialRecord]:
        """The best completed architecture of each lineage, best lineages first, so
        that mutants come from several lineages, not from one family's top members."""
        roots, seen, leaders = lineages(history), set(), []
        for record in self._best(history):
            root = roots.get(record.arch_id, record.arch_id)
            if root not in seen:
                seen.add(root)
                leaders.append(record)
        return leaders

    # --- helpers --------------------------------------------------------------------

    @staticmethod
    def _best(history: History) -> list[TrialRecord]:
        """Completed trials, best first (:func:`~nas.search.history.fitness`)."""
        scored = [r for r in history.records if r.score is not None and r.arch]
        return sorted(scored, key=lambda r: fitness(r, history.maximize), reverse=True)



def _load_trainability(path: str | Path):
    """The trainability classifier at ``path`` (PredictorError if it cannot be read)."""
    # predictors: only a search with --trainability needs it (issue 16: CLI start-up)
    from predictors.trainability import TrainabilityClassifier

    return TrainabilityClassifier.load(path)


def lineages(history: History) -> dict[str, str]:
    """arch id -> the arch id of its lineage's root: follow the first parent through the
    study until an architecture with none (a fresh sample, a reference)."""
    parent = {r.arch_id: (r.user_attrs.get("parents") or [None])[0]
              for r in history.records if r.arch_id}
    roots: dict[str, str] = {}
    for arch_id in parent:
        chain, at = [], arch_id
        while at in parent and parent[at] and at not in roots and at not in chain:
            chain.append(at)
            at = parent[at]
        root = roots.get(at, at)
        for a in chain:
            roots[a] = root
        roots.setdefault(arch_id, root)
    return roots
