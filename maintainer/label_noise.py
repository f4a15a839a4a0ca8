"""How reproducible are a store's scores? Retrain sampled records with other seeds.

    python -m maintainer.label_noise --store runs/predictor-store/bench \\
        --group versatileffn/kan-expsin -n 80 --seeds 1 2

Each sampled record's architecture is rebuilt and trained again exactly as the store's
build trained it (default hyperparameters, one tuning trial, the record's epochs), once
per seed. The printed Kendall taus between the stored score (seed 0) and each retrained
one bound what any predictor can reach on that group: a predictor that knew each
architecture's expected score would still rank the seed-0 labels only about as well as
the mean of the other seeds does (the last figure).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math

import numpy as np
import torch

from bench.predictor_training import load_records
from bench.tasks import get_task
from bench.training import Budget
from bench.tuning import tune_architecture
from nas.builder import build_model
from nas.errors import NasError
from nas.space import load_space
from predictors.evaluate import scored
from predictors.metrics import kendall_tau


def retrain(record, seeds: list[int], seconds: float = 120.0) -> list[float]:
    """Validation scores of the record's architecture trained once per seed (NaN: failed)."""
    task, space = get_task(record["task"]), load_space(record["grammar"])
    arch = space.parse(record["arch"])
    scores = []
    for seed in seeds:
        try:
            tuned = tune_architecture(
                lambda: build_model(arch, space, task.input_shape, task.head), task,
                n_trials=1, seed=seed,
                budget=Budget(max_epochs=int(record["epochs"]), max_seconds=seconds))
            scores.append(float(tuned.best_val))
        except (NasError, RuntimeError, ValueError):
            scores.append(math.nan)
    return scores


def agreement(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """Kendall tau of every pair of score columns, and of seed 0 vs the others' mean."""
    table = np.column_stack(list(columns.values()))
    table = table[np.isfinite(table).all(axis=1)]
    names = list(columns)
    out = {f"{a} vs {b}": kendall_tau(table[:, i], table[:, j])
           for (i, a), (j, b) in itertools.combinations(enumerate(names), 2)}
    if len(names) > 2:
        out[f"{names[0]} vs mean of the others"] = kendall_tau(table[:, 0],
                                                              table[:, 1:].mean(axis=1))
    out["records"] = len(table)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs/predictor-store/bench")
    parser.add_argument("--group", required=True, metavar="GRAMMAR/TASK")
    parser.add_argument("-n", type=int, default=80, help="records to retrain")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", dest="json_out", help="also write the scores here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    grammar, _, task = args.group.partition("/")
    df = scored(load_records(args.store))
    group = df[(df["grammar"] == grammar) & (df["task"] == task)]
    if len(group) < 3:
        raise SystemExit(f"{args.group}: {len(group)} scored records in {args.store}; "
                         "need at least 3 (see `nas bench stats --store ...`)")
    sample = group.sample(min(args.n, len(group)), random_state=0)
    rows = []
    for i, (_, record) in enumerate(sample.iterrows(), 1):
        rows.append([float(record["val_score"]), *retrain(record, args.seeds)])
        print(f"\r{i}/{len(sample)} retrained", end="", flush=True)
    print()
    scores = np.array(rows)
    columns = {"seed 0 (stored)": scores[:, 0]}
    columns.update({f"seed {s}": scores[:, k + 1] for k, s in enumerate(args.seeds)})
    result = agreement(columns)
    for name, value in result.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"group": args.group, "seeds": args.seeds, "agreement": result,
                       "arch_ids": sample["arch_id"].tolist(), "scores": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
