"""Re-export the ONNX graphs of the shipped predictor's training records, untrained.

    python -m maintainer.reexport_store --task digits --out runs/reexport

The store of trained ONNX files (``runs/predictor-store``) takes CPU hours to rebuild,
but ``predictors/data/default-store-index.csv`` keeps every record's canonical
architecture string, grammar and task, so the graphs can be rebuilt deterministically:
``load_space(grammar).parse(arch)``, the platform's builder with the task's head, and the
platform's exporter. Weights are freshly initialised (seed ``--seed``): the predictor's
text and graph features read ops, shapes, attributes and wiring, not weight values (see
``same_features`` and docs/predictor.md, "Trainability").

Writes ``<out>/<grammar>/<task>/<arch_id>.onnx``; a file already there is kept, so an
interrupted run resumes. Prints one line per 100 records.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from bench.tasks import get_task
from nas.builder import build_model
from nas.export import export_onnx
from nas.space import load_space
from predictors.shipped import DATA_DIR

INDEX = DATA_DIR / "default-store-index.csv"


def reexport_path(out: Path, row: pd.Series) -> Path:
    return out / str(row["grammar"]) / str(row["task"]) / f"{row['arch_id']}.onnx"


def reexport_one(row: pd.Series, out: Path, seed: int = 0, spaces=None, tasks=None):
    """Build and export one record's architecture (untrained, seeded); returns the proto."""
    spaces = {} if spaces is None else spaces
    tasks = {} if tasks is None else tasks
    space = spaces.setdefault(row["grammar"], load_space(row["grammar"]))
    task = tasks.setdefault(row["task"], get_task(row["task"]))
    torch.manual_seed(seed)
    model = build_model(space.parse(row["arch"]), space, task.input_shape, task.head)
    path = reexport_path(out, row)
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx(model.eval(), task.input_shape, path=path, seed=seed).model


def reexport(index: Path, out: Path, tasks: list[str] | None, seed: int = 0) -> None:
    """Re-export every record of ``index`` (of ``tasks``) that has no file in ``out`` yet."""
    df = pd.read_csv(index)
    if tasks:
        df = df[df["task"].isin(tasks)]
    spaces: dict = {}
    loaded: dict = {}
    started, failed = time.perf_counter(), 0
    for i, (_, row) in enumerate(df.iterrows(), 1):
        if not reexport_path(out, row).exists():
            try:
                reexport_one(row, out, seed, spaces, loaded)
            except Exception as exc:  # one bad record must not stop the rest
                failed += 1
                print(f"   {row['grammar']}/{row['arch_id']}: {type(exc).__name__}: {exc}",
                      flush=True)
        if i % 100 == 0 or i == len(df):
            print(f"{i}/{len(df)} in {time.perf_counter() - started:.0f}s, {failed} failed",
                  flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=INDEX)
    parser.add_argument("--out", type=Path, default=Path("runs/reexport"))
    parser.add_argument("--task", action="append", help="only these tasks (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reexport(args.index, args.out, args.task, args.seed)


if __name__ == "__main__":
    main()
