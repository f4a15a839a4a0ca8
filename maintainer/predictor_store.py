"""Build the training store of the shipped default predictor, then train and ship it.

    python -m maintainer.predictor_store                 # resumable: run it again to go on
    python -m maintainer.predictor_store --budget 100 --workers 2 --out runs/predictor-store
    python -m maintainer.predictor_store --only ffn/digits --only kan/kan-expsin

Really trains architectures from several grammars on several built-in tasks with
``nas search --strategy random`` (one run directory and Optuna study per grammar x task,
each with its own budget and epochs in :data:`PLAN`), merges their ONNX-Bench stores into
``<out>/bench``, writes the merged index (scores, not weights) to
``predictors/data/default-store-index.csv`` so results can be reproduced, and trains
``predictors/data/default.predictor`` from the merged store.

Resumable: the budget of a ``nas search`` study counts the whole study, so running this
again on an existing run directory resumes each study where it stopped, and a larger
budget (in :data:`PLAN` or ``--budget``) adds trials to the architectures already trained.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.predictor_training import one_fidelity, train_from_store, training_set_hash
from bench.store import OnnxBenchStore
from predictors.evaluate import scored
from predictors.shipped import DATA_DIR, default_predictor_path

#: (grammar, task, budget, epochs): >= 3 grammars, >= 2 tasks. The tasks are chosen for
#: labels a predictor can rank: ``digits`` (360 validation images) and the KAN paper's
#: regression fit ``kan-expsin`` (250 validation points, continuous RMSE; the validation
#: and test score of one trained network agree to Kendall tau 0.90-0.98). Budgets are
#: sized to the cost of one evaluation on 2 CPU cores (1 tuning trial; measured seconds
#: per architecture, sampling + training + export: kan-expsin ~0.6 (ffn, kan) to ~4
#: (versatileffn, einspace); digits ~1 (ffn), ~4 (versatileffn), ~5 (metamixer), ~7.5
#: (einspace)). Cheap groups first, so an interrupted build still has them.
#: Left out (measured in an earlier store of 3,658 records): ``wine``, whose 27-image
#: validation split moves in steps of 1/27 (val-vs-test tau 0.63-0.81), and kan/digits,
#: where 4-12 epochs leave 90% of the networks within 4 points of chance.
PLAN = [
    ("kan", "kan-expsin", 500, 20), ("ffn", "kan-expsin", 500, 20),
    ("ffn", "digits", 500, 4), ("versatileffn", "kan-expsin", 400, 20),
    ("einspace", "kan-expsin", 500, 20), ("versatileffn", "digits", 350, 4),
    ("einspace", "digits", 250, 4), ("metamixer", "digits", 300, 4),
]
#: the shipped predictor's regressor: the best in-space ranker of the benchmark
#: (docs/predictor.md); its encoder and features are the defaults (hashing, text+graph)
SHIPPED_REGRESSOR = "blend"

Run = tuple[str, str, int, int]


def plan(budget: int | None = None, only: list[str] | None = None) -> list[Run]:
    """The (grammar, task, budget, epochs) runs to do: :data:`PLAN`, filtered by ``only``
    (``grammar/task`` names), every budget replaced by ``budget`` when it is given."""
    runs = [(g, t, budget or b, e) for g, t, b, e in PLAN]
    if only:
        known = {f"{g}/{t}" for g, t, _, _ in PLAN}
        unknown = sorted(set(only) - known)
        if unknown:
            raise SystemExit(f"unknown --only {unknown}; choose from {sorted(known)}")
        runs = [r for r in runs if f"{r[0]}/{r[1]}" in only]
    return runs


def run_dir(out: Path, grammar: str, task: str) -> Path:
    """Where the study of one group lives (its journal, trials and own store)."""
    return out / "runs" / f"{grammar}-{task}"


def labelling_search(run: Run, study: str, out: Path, workers: int,
                     extra: tuple[str, ...] = ()) -> list[str]:
    """The ``nas search`` command that labels one group: random architectures, each
    trained in full with the default hyperparameters (``--min-epochs none``: a store
    label is a full run, never a rung score; halving would also keep only the best
    third out of the store)."""
    grammar, task, budget, epochs = run
    return [sys.executable, "-m", "nas", "search", "--grammar", grammar, "--task", task,
            "--strategy", "random", "--budget", str(budget), "--tune-trials", "1",
            "--epochs", str(epochs), "--min-epochs", "none", "--trial-seconds", "120",
            "--workers", str(workers), "--study", study, "--out", str(out), "--json", *extra]


def run_labelling(cmd: list[str], title: str) -> None:
    """Run one labelling search, printing its title and how it ended."""
    started = time.perf_counter()
    print(f"== {title}: {' '.join(cmd[3:])}", flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"   rc={done.returncode} in {time.perf_counter() - started:.0f}s {tail[0][:300]}",
          flush=True)


def run_searches(out: Path, runs: list[Run], workers: int) -> None:
    """One random search per grammar x task; an existing run resumes where it stopped."""
    for run in runs:
        grammar, task, budget, _ = run
        cmd = labelling_search(run, f"predictor-{grammar}-{task}",
                               run_dir(out, grammar, task), workers)
        run_labelling(cmd, f"{grammar} x {task} (budget {budget})")


def merge_and_train(out: Path) -> None:
    """Merge the planned groups' stores into a fresh ``<out>/bench`` (groups no longer in
    :data:`PLAN` drop out), keep the index, train and save the default predictor."""
    fresh = out / "bench.new"
    shutil.rmtree(fresh, ignore_errors=True)
    merged = OnnxBenchStore(fresh, create=True)
    roots = [run_dir(out, g, t) / "bench" for g, t, _, _ in PLAN]
    roots = [r for r in roots if r.is_dir()]
    report = merged.merge(roots)
    shutil.rmtree(out / "bench", ignore_errors=True)
    fresh.rename(out / "bench")
    merged = OnnxBenchStore(out / "bench")
    print(f"merged {len(roots)} stores: added {report.added}, replaced {report.replaced}, "
          f"{len(report.duplicates)} duplicates", flush=True)
    # the index lists exactly what the predictor trains on (scored, one fidelity), so that
    # its training_set hash is the index's (tests/predictors/test_predictor_cli.py)
    frame = one_fidelity(scored(merged.to_dataframe()))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    columns = [c for c in ("arch_id", "arch", "grammar", "grammar_hash", "task", "metric",
                           "higher_is_better", "val_score", "test_score", "params", "macs",
                           "train_seconds", "epochs", "hparams", "seed", "created_at")
               if c in frame.columns]
    frame[columns].to_csv(DATA_DIR / "default-store-index.csv", index=False)
    sizes = frame.groupby(["grammar", "task"]).size()
    print(f"{len(frame)} records, {frame['grammar'].nunique()} grammars, "
          f"{frame['task'].nunique()} tasks; per group: "
          + ", ".join(f"{g}/{t} {n}" for (g, t), n in sizes.items()), flush=True)
    predictor = train_from_store(out / "bench", regressor=SHIPPED_REGRESSOR)
    if predictor.metadata_["training_set"] != training_set_hash(frame):
        raise SystemExit("the predictor's training set differs from the index written; "
                         "check the store for records without ONNX files")
    path = predictor.save(default_predictor_path(), metadata=predictor.metadata_)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/predictor-store"))
    parser.add_argument("--budget", type=int, default=None,
                        help="evaluations per grammar x task study (default: PLAN's, per group)")
    parser.add_argument("--only", action="append", metavar="GRAMMAR/TASK",
                        help="run only these groups of PLAN (repeatable)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skip-search", action="store_true", help="only merge and train")
    args = parser.parse_args(argv)
    if not args.skip_search:
        run_searches(args.out, plan(args.budget, args.only), args.workers)
    merge_and_train(args.out)


if __name__ == "__main__":
    main()
