"""Regression function fits from the KAN paper (Liu et al. 2024).

* ``kan-expsin``: f(x, y) = exp(sin(pi x) + y^2) on [-1, 1]^2 (the KAN paper's toy fit).
* ``feynman-*``: equations of the AI Feynman set (Udrescu & Tegmark 2020), which the KAN
  paper also fits, with the variable ranges of AI Feynman's ``FeynmanEquations.csv``:

  - ``feynman-I.6.2``  f = exp(-(theta/sigma)^2 / 2) / (sqrt(2 pi) sigma),
    sigma, theta in [1, 3] (a Gaussian);
  - ``feynman-I.12.11`` F = q (Ef + B v sin(theta)), q, Ef, B, v, theta in [1, 5]
    (the Lorentz force);
  - ``feynman-I.16.6``  v1 = (u + v) / (1 + u v / c^2), c, v, u in [1, 5]
    (relativistic velocity addition).

Inputs are sampled uniformly on their ranges (1,000 train / 250 validation / 1,000 test
rows as in the KAN paper's ``create_dataset``, which uses 1,000 train and 1,000 test),
seeded. The metric is RMSE in the function's own units, lower is better.

The table of fits (:data:`FITS`) lives in ``bench.tasks.catalog`` with the other task
facts, so that it is read without torch; this module builds their data.
"""

from __future__ import annotations

import numpy as np

from bench.tasks.catalog import FIT_SIZES, FITS
from bench.tasks.prepare import RegressionTask, make_regression_task


def function_fit(name: str, seed: int = 0, n_train: int = FIT_SIZES[0],
                 standardize: bool = True) -> RegressionTask:
    """The regression task ``name`` (a key of :data:`FITS`) with ``n_train`` training rows.

    ``standardize=False`` keeps the inputs on their native ranges (e.g. [-1, 1] for a
    KAN grid); targets are always standardised for training and scored in native units.
    """
    fit = FITS[name]
    n_val, n_test = FIT_SIZES[1], FIT_SIZES[2]
    rng = np.random.default_rng(seed)
    low, high = np.array(fit.ranges, dtype=np.float64).T
    x = rng.uniform(low, high, size=(n_train + n_val + n_test, len(fit.variables)))
    y = fit.fn(*x.T)
    description = f"fit {fit.formula}, ({', '.join(fit.variables)}) uniform on " + \
        " x ".join(f"[{a:g}, {b:g}]" for a, b in fit.ranges)
    return make_regression_task(name, description, x, y, seed, (n_train, n_val, n_test),
                                fit.references, standardize_inputs=standardize)
