"""Build the training store of the shipped default predictor, then train and ship it.

    python -m bench.predictor_store                 # resumable: run it again to go on
    python -m bench.predictor_store --budget 100 --workers 2 --out runs/predictor-store
    python -m bench.predictor_store --only ffn/digits --only kan/wine

Really trains architectures from several grammars on several built-in tasks with
``nas search --strategy random`` (one run directory and Optuna study per grammar x task,
each with its own budget in :data:`PLAN`), merges their ONNX-Bench stores into
``<out>/bench``, writes the merged index (scores, not weights) to
``predictors/data/default-store-index.csv`` so results can be reproduced, and trains
``predictors/data/default.predictor`` from the merged store.

Resumable: the budget of a ``nas search`` study counts the whole study, so running this
again on an existing run directory resumes each study where it stopped, and a larger
budget (in :data:`PLAN` or ``--budget``) adds trials to the architectures already trained.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

#: (grammar, task, budget): >= 3 grammars, >= 2 tasks, sized to the cost of one
#: evaluation on 2 CPU cores (4 epochs, 1 tuning trial; measured seconds per architecture,
#: sampling + training + export: ffn/kan on wine ~0.1-0.2, einspace/versatileffn on wine
#: ~0.4, kan/digits ~0.7, ffn/digits ~1, versatileffn/digits ~4, einspace/digits ~7.5,
#: metamixer/digits ~20). Cheap groups first, so an interrupted build still has them.
PLAN = [
    ("ffn", "wine", 500), ("kan", "wine", 500), ("versatileffn", "wine", 500),
    ("einspace", "wine", 500), ("kan", "digits", 500), ("ffn", "digits", 500),
    ("versatileffn", "digits", 350), ("einspace", "digits", 250),
    ("metamixer", "digits", 70),
]
DATA = Path(__file__).resolve().parents[1] / "predictors" / "data"


def plan(budget: int | None = None, only: list[str] | None = None) -> list[tuple[str, str, int]]:
    """The (grammar, task, budget) runs to do: :data:`PLAN`, filtered by ``only``
    (``grammar/task`` names), every budget replaced by ``budget`` when it is given."""
    runs = [(g, t, budget or b) for g, t, b in PLAN]
    if only:
        known = {f"{g}/{t}" for g, t, _ in PLAN}
        unknown = sorted(set(only) - known)
        if unknown:
            raise SystemExit(f"unknown --only {unknown}; choose from {sorted(known)}")
        runs = [r for r in runs if f"{r[0]}/{r[1]}" in only]
    return runs


def run_searches(out: Path, runs: list[tuple[str, str, int]], workers: int, epochs: int) -> None:
    """One random search per grammar x task; an existing run resumes where it stopped."""
    for grammar, task, budget in runs:
        run = out / "runs" / f"{grammar}-{task}"
        cmd = [sys.executable, "-m", "nas", "search", "--grammar", grammar, "--task", task,
               "--strategy", "random", "--budget", str(budget), "--tune-trials", "1",
               "--epochs", str(epochs), "--trial-seconds", "120", "--workers", str(workers),
               "--study", f"predictor-{grammar}-{task}", "--out", str(run), "--json"]
        started = time.perf_counter()
        print(f"== {grammar} x {task} (budget {budget}): {' '.join(cmd[3:])}", flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"   rc={done.returncode} in {time.perf_counter() - started:.0f}s {tail[0][:300]}",
              flush=True)


def merge_and_train(out: Path) -> None:
    """Merge the per-run stores, keep the index, train and save the default predictor."""
    from bench.store import OnnxBenchStore
    from predictors.training import train_from_store

    merged = OnnxBenchStore(out / "bench", create=True)
    roots = [p / "bench" for p in sorted((out / "runs").glob("*")) if (p / "bench").is_dir()]
    report = merged.merge(roots)
    print(f"merged {len(roots)} stores: added {report.added}, replaced {report.replaced}, "
          f"{len(report.duplicates)} duplicates", flush=True)
    frame = merged.to_dataframe()
    DATA.mkdir(parents=True, exist_ok=True)
    columns = [c for c in ("arch_id", "arch", "grammar", "grammar_hash", "task", "metric",
                           "higher_is_better", "val_score", "test_score", "params", "macs",
                           "train_seconds", "epochs", "hparams", "seed", "created_at")
               if c in frame.columns]
    frame[columns].to_csv(DATA / "default-store-index.csv", index=False)
    sizes = frame.groupby(["grammar", "task"]).size()
    print(f"{len(frame)} records, {frame['grammar'].nunique()} grammars, "
          f"{frame['task'].nunique()} tasks; per group: "
          + ", ".join(f"{g}/{t} {n}" for (g, t), n in sizes.items()), flush=True)
    predictor = train_from_store(out / "bench")
    path = predictor.save(DATA / "default.predictor", metadata=predictor.metadata_)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/predictor-store"))
    parser.add_argument("--budget", type=int, default=None,
                        help="evaluations per grammar x task study (default: PLAN's, per group)")
    parser.add_argument("--only", action="append", metavar="GRAMMAR/TASK",
                        help="run only these groups of PLAN (repeatable)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--skip-search", action="store_true", help="only merge and train")
    args = parser.parse_args(argv)
    if not args.skip_search:
        run_searches(args.out, plan(args.budget, args.only), args.workers, args.epochs)
    merge_and_train(args.out)


if __name__ == "__main__":
    main()
