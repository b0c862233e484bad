"""Data sets and masks of the imputation benchmarks, shared by their two scripts.

``bench_impute.py`` (skvae and scikit-learn, main environment) and
``bench_impute_peers.py`` (missForest, MIWAE, hyperimpute..., in a separate
venv) import this module, so that both score the very same entries: every
mask is a function of the data set, the mechanism and a seed alone.

The protocol is MIWAE's (Mattei & Frellsen, 2019) and not-MIWAE's (Ipsen et
al., 2021): standardise each column, remove entries, and score the mean
squared error over the removed entries in standardised units.

* ``"mcar20"``, ``"mcar50"``: each entry removed independently with
  probability 0.2 or 0.5 (missing completely at random);
* ``"mnar"``: not-MIWAE's self-masking mechanism: in half of the columns
  (a choice fixed by the seed), every value above the column mean is missing
  (missing not at random).

Downstream, on the data sets with a target (``TARGETS``), the filled-in
data go to a model of the target: ``downstream`` gives the 5-fold
cross-validated accuracy of a logistic regression (breast cancer, wine) or
the R^2 of a ridge regression (diabetes).

Only numpy and scikit-learn are needed here (both environments have them).
"""

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler

MECHANISMS = ("mcar50", "mcar20", "mnar")
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
ADBENCH = {"yeast": "47_yeast"}
# The data sets with a target for the downstream score, and its kind.
TARGETS = {"breast_cancer": "class", "wine": "class", "diabetes": "regression"}
_LOADERS = {"breast_cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes}


def load(name, data_dir=None):
    """Data set ``name`` standardised (each column mean 0, variance 1), float64."""
    if name in _LOADERS:  # diabetes's X is already centred and scaled; standardised again below
        X = _LOADERS[name]().data
    elif name in ADBENCH:
        folder = Path(data_dir or os.environ.get("SKVAE_DATA_DIR", DEFAULT_DATA_DIR))
        path = folder / "adbench" / f"{ADBENCH[name]}.npz"
        if not path.exists():
            raise FileNotFoundError(
                f"No {path.name} under {path.parent}; pass --data-dir or set SKVAE_DATA_DIR."
            )
        X = np.load(path)["X"]
    else:
        raise ValueError(f"unknown data set {name!r}")
    return StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))


def mask(X, mechanism, seed):
    """Boolean array of X's shape, True where the entry is removed.

    ``X`` is standardised, so "above the column mean" is ``X > 0``. A row
    whose every entry would go keeps one, at random, so that no row is
    empty; this touches very few rows. The MCAR draws are those of the first
    version of ``bench_impute.py`` (``uniform(size=X.shape) < rate``).
    """
    rng = np.random.RandomState(seed)
    if mechanism.startswith("mcar"):
        removed = rng.uniform(size=X.shape) < int(mechanism[4:]) / 100
    elif mechanism == "mnar":
        columns = rng.permutation(X.shape[1])[: X.shape[1] // 2]
        removed = np.zeros(X.shape, dtype=bool)
        removed[:, columns] = X[:, columns] > 0
    else:
        raise ValueError(f"unknown mechanism {mechanism!r}")
    empty = np.flatnonzero(removed.all(axis=1))
    if empty.size:
        keep = rng.randint(X.shape[1], size=empty.size)
        removed[empty, keep] = False
    return removed


def with_holes(X, removed):
    """``X`` with NaN at the removed entries."""
    return np.where(removed, np.nan, X)


def mse(filled, X, removed):
    """Mean squared error over the removed entries (standardised units)."""
    return float(((np.asarray(filled, dtype=np.float64) - X)[removed] ** 2).mean())


def downstream(filled, name, n_rows=None):
    """5-fold cross-validated score of a model of ``name``'s target on ``filled``, or None.

    Accuracy of ``LogisticRegression`` for a class target, R^2 of
    ``RidgeCV`` for a numeric one (``TARGETS``); the folds are shuffled with
    seed 0, the same for every imputer and mask. ``n_rows``: the target of
    the first rows only (the benchmarks' smoke runs cut the data). None for
    a data set without a target.
    """
    kind = TARGETS.get(name)
    if kind is None:
        return None
    y = _LOADERS[name]().target[:n_rows]
    if kind == "class":
        model, folds = LogisticRegression(max_iter=5000), StratifiedKFold(5, shuffle=True,
                                                                          random_state=0)
    else:
        model, folds = RidgeCV(), KFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, filled, y, cv=folds).mean())
