"""Build the training store of the shipped default predictor, then train and ship it.

    python -m bench.predictor_store                 # resumable: run it again to go on
    python -m bench.predictor_store --per-run 70 --workers 2 --out runs/predictor-store

Really trains architectures from several grammars on several built-in tasks with
``nas search --strategy random`` (one run directory per grammar x task, each resumable),
merges their ONNX-Bench stores into ``<out>/bench``, writes the merged index (scores, not
weights) to ``predictors/data/default-store-index.csv`` so results can be reproduced,
and trains ``predictors/data/default.predictor`` from the merged store.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

#: (grammar, task) pairs: >= 3 grammars, >= 2 tasks, cheap to train on 2 CPU cores
PLAN = [
    ("einspace", "digits"), ("ffn", "digits"), ("metamixer", "digits"),
    ("versatileffn", "digits"), ("kan", "digits"),
    ("einspace", "wine"), ("ffn", "wine"), ("kan", "wine"), ("versatileffn", "wine"),
]
DATA = Path(__file__).resolve().parents[1] / "predictors" / "data"


def run_searches(out: Path, per_run: int, workers: int, epochs: int) -> None:
    """One random search per grammar x task; an existing run resumes where it stopped."""
    for grammar, task in PLAN:
        run = out / "runs" / f"{grammar}-{task}"
        cmd = [sys.executable, "-m", "nas", "search", "--grammar", grammar, "--task", task,
               "--strategy", "random", "--budget", str(per_run), "--tune-trials", "1",
               "--epochs", str(epochs), "--trial-seconds", "120", "--workers", str(workers),
               "--study", f"predictor-{grammar}-{task}", "--out", str(run), "--json"]
        started = time.perf_counter()
        print(f"== {grammar} x {task}: {' '.join(cmd[3:])}", flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"   rc={done.returncode} in {time.perf_counter() - started:.0f}s {tail[0]}",
              flush=True)


def merge_and_train(out: Path) -> None:
    """Merge the per-run stores, keep the index, train and save the default predictor."""
    from bench.store import OnnxBenchStore
    from predictors.training import train_from_store

    merged = OnnxBenchStore(out / "bench", create=True)
    roots = [p / "bench" for p in sorted((out / "runs").glob("*")) if (p / "bench").is_dir()]
    report = merged.merge(roots)
    print(f"merged {len(roots)} stores: {report}", flush=True)
    frame = merged.to_dataframe()
    DATA.mkdir(parents=True, exist_ok=True)
    columns = [c for c in ("arch_id", "arch", "grammar", "grammar_hash", "task", "metric",
                           "higher_is_better", "val_score", "test_score", "params", "macs",
                           "train_seconds", "epochs", "hparams", "seed", "created_at")
               if c in frame.columns]
    frame[columns].to_csv(DATA / "default-store-index.csv", index=False)
    print(f"{len(frame)} records, {frame['grammar'].nunique()} grammars, "
          f"{frame['task'].nunique()} tasks", flush=True)
    predictor = train_from_store(out / "bench")
    predictor.save(DATA / "default.predictor", metadata=predictor.metadata_)
    print(f"wrote {DATA / 'default.predictor'}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/predictor-store"))
    parser.add_argument("--per-run", type=int, default=70)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--skip-search", action="store_true", help="only merge and train")
    args = parser.parse_args(argv)
    if not args.skip_search:
        run_searches(args.out, args.per_run, args.workers, args.epochs)
    merge_and_train(args.out)


if __name__ == "__main__":
    main()
