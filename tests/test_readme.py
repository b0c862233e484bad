"""Every ```python block of README.md runs as written.

The blocks are read from README.md at collection time: a line that reads
```python (leading spaces allowed) opens a block and the next ``` line
closes it. Blocks fenced as ```bash, or with no language (commands, output,
the layout), are not executed. Each python block is one test, named after
the line of its opening fence (``line38``), and fails if the block raises;
a failure shows the block's traceback with README.md's line numbers.

Namespaces. Each block runs as if pasted into an interactive session
(``__name__ == "__main__"``). The README's first python block (the "Use"
section) is the setup the later sections build on: they fit
``VAETransformer`` on its ``X`` (the digits) and save its ``vae``. So the
first block runs once, in a fresh namespace (in a module-scoped fixture, so
its time shows as the setup of its test), and every later block runs in
its own copy of the namespace the first block left. A later block never
sees what another later block defined: the "Scaling up" block rebinds
``X`` to its own file, which the "Images" block must not see. A block that
needs other data makes it itself, as the outlier-detection block does.

Every block runs in a fresh temporary directory as its working directory,
so the files the blocks write (``big.npy``, ``model.safetensors``) go
nowhere else. A Dask ``Client`` a block starts is closed after it.

Keep the README's examples short enough for this file to stay fast (a few
tens of seconds on one core): shorten an example that trains for long (say,
with ``max_iter``) rather than skip it here.
"""

import copy
import traceback
from pathlib import Path

import pytest
from _markdown import python_blocks, run_block

README = Path(__file__).resolve().parents[1] / "README.md"


BLOCKS = python_blocks(README)


def _run(line, source, namespace, directory):
    run_block("README.md", line, source, namespace, directory)


def _fail(error):
    """Fail with the block's own Python traceback (pytest's would print the padding)."""
    pytest.fail("".join(traceback.format_exception(error)), pytrace=False)


@pytest.fixture(scope="module")
def first_block(tmp_path_factory):
    """The namespace the first block leaves, or the exception it raised."""
    line, source = BLOCKS[0]
    namespace = {"__name__": "__main__"}  # as in an interactive session
    try:
        _run(line, source, namespace, tmp_path_factory.mktemp(f"readme-line{line}"))
    except Exception as error:  # reported by the tests, not as a fixture error
        return error
    return namespace


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3, [line for line, _ in BLOCKS]


@pytest.mark.parametrize(
    "line, source", [pytest.param(*block, id=f"line{block[0]}") for block in BLOCKS]
)
def test_readme_block_runs(line, source, first_block, tmp_path):
    first_line = BLOCKS[0][0]
    if isinstance(first_block, Exception):
        if line == first_line:
            _fail(first_block)
        pytest.fail(
            f"the README's first python block (line {first_line}), which this one builds on, "
            f"raised {first_block!r}",
            pytrace=False,
        )
    if line == first_line:
        return  # it ran in the fixture
    failure = None
    try:
        _run(line, source, copy.copy(first_block), tmp_path)
    except Exception as error:
        failure = error
    if failure is not None:  # outside the except clause, which pytest would print too
        _fail(failure)
