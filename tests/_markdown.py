"""Run the ```python blocks of a Markdown file (README.md, the docs' pages) as written.

A line that reads ```python (leading spaces allowed) opens a block and the next ``` line
closes it; blocks fenced otherwise (```bash, output, layouts) are not run.
"""

import linecache
import os


def python_blocks(path):
    """``(line, source)`` of each ```python block; ``line`` is the opening fence's (1-based)."""
    blocks, start, body = [], None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = line.strip()
        if start is None:
            if fence == "```python":
                start, body = number, []
        elif fence == "```":
            blocks.append((start, "\n".join(body) + "\n"))
            start = None
        else:
            body.append(line)
    assert start is None, f"{path.name}: the ```python block opened on line {start} is not closed"
    return blocks


def run_block(name, line, source, namespace, directory):
    """Execute one block of file ``name`` in ``namespace``, in ``directory`` (the working one).

    The source is compiled with ``line`` blank lines in front of it, so that a traceback names
    the block's lines as numbered in the file, under a file name of its own that ``linecache``
    knows. A ``dask.distributed.Client`` the block leaves is closed.
    """
    filename = f"{name}, python block at line {line}"
    padded = "\n" * line + source
    linecache.cache[filename] = (len(padded), None, padded.splitlines(True), filename)
    code = compile(padded, filename, "exec")
    previous = os.getcwd()
    os.chdir(directory)
    try:
        exec(code, namespace)
    finally:
        os.chdir(previous)
        _close_dask_clients(namespace)


def _close_dask_clients(namespace):
    """Close a ``dask.distributed.Client`` left in ``namespace``, and the cluster it started."""
    for value in list(namespace.values()):
        if type(value).__name__ == "Client" and type(value).__module__.startswith("distributed"):
            value.close()
