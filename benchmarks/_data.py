"""Where the benchmarks find the offline data sets.

The data live in ``../shared/data`` relative to the project root unless the
environment variable ``SKVAE_DATA_DIR`` or a ``--data-dir`` option says
otherwise.
"""

import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


def data_dir(option=None):
    """The data directory: ``option``, else ``$SKVAE_DATA_DIR``, else the default."""
    if option:
        return Path(option)
    return Path(os.environ.get("SKVAE_DATA_DIR", DEFAULT_DATA_DIR))


def load_binarized_mnist(directory, split):
    """The statically binarised MNIST split ``split`` as a (n, 784) uint8 array."""
    from scipy.io import loadmat

    folder = Path(directory) / "binarized_mnist"
    for suffix in (".mat", ".amat"):  # MATLAB v5 files, whatever the extension
        path = folder / f"binarized_mnist_{split}{suffix}"
        if path.exists():
            return loadmat(path)["X"]
    raise FileNotFoundError(
        f"No binarized_mnist_{split}.mat under {folder}; pass --data-dir or set SKVAE_DATA_DIR."
    )


def write_table(frame, name, title, notes=(), digits=2, out_dir=RESULTS_DIR):
    """Print ``frame`` and write it as ``<out_dir>/<name>.md`` and ``.csv``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(frame, digits)
    text = "\n".join([f"# {title}", "", markdown, "", *notes, ""])
    print(text)
    (out_dir / f"{name}.md").write_text(text)
    frame.to_csv(out_dir / f"{name}.csv", index=False)


def table_commands(path):
    """The commands a table written by :func:`write_table` names ("Command: ..." notes).

    ``path`` is the table's ``.csv`` or ``.md``; none when it has no ``.md``.
    """
    markdown = Path(path).with_suffix(".md")
    if not markdown.exists():
        return []
    return [line[len("Command: "):] for line in markdown.read_text().splitlines()
            if line.startswith("Command:")]


def add_output_options(parser):
    """``--quick`` and ``--out-dir``, the same for every benchmark script.

    ``--quick`` runs on a tiny subset in seconds, as a smoke test (CI runs
    it: ``tests/test_benchmarks.py``); its figures mean nothing and it
    never writes to ``benchmarks/results`` unless ``--out-dir`` says so.
    """
    parser.add_argument(
        "--quick", action="store_true", help="smoke run on a tiny subset; figures mean nothing"
    )
    parser.add_argument(
        "--out-dir",
        default=None,
        help="folder for the tables (default: benchmarks/results; "
        "with --quick, a temporary folder)",
    )


def output_dir(args):
    """Where the tables go: ``--out-dir``, else a temporary folder for --quick, else results/."""
    if args.out_dir:
        return Path(args.out_dir)
    if args.quick:
        return Path(tempfile.mkdtemp(prefix="skvae_quick_"))
    return RESULTS_DIR


def to_markdown(frame, digits=2):
    """A pipe table of ``frame`` (floats with ``digits`` decimals), no extra dependency."""

    def cell(value):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    rows = [[str(c) for c in frame.columns]]
    rows += [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("---" for _ in frame.columns) + "|")
    return "\n".join(lines)


def load_adbench(directory, name):
    """ADBench data set ``name`` (e.g. ``"30_satellite"``) as (X float64, y int)."""
    import numpy as np

    path = Path(directory) / "adbench" / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"No {path.name} under {path.parent}; pass --data-dir or set SKVAE_DATA_DIR."
        )
    data = np.load(path)
    return data["X"].astype(np.float64), data["y"].astype(int)
