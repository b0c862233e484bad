"""Every ```python block of the documentation's Markdown pages runs as written.

Each page is one test: its blocks run in order in one namespace, as a reader pasting them
into one session would, in a fresh temporary directory as the working directory (so that
files a block writes go nowhere else). The gallery's scripts run when the site is built
(``python3 -m sphinx -W -b html docs docs/_build/html``, part of ``scripts/test.sh``), not
here.
"""

import traceback
from pathlib import Path

import pytest
from _markdown import python_blocks, run_block

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(
    path for path in DOCS.rglob("*.md")
    if "_build" not in path.parts and python_blocks(path)
)


def test_the_user_guide_has_examples():
    names = {path.name for path in PAGES}
    assert {"transformer.md", "outliers.md", "tables.md", "missing.md"} <= names, names


@pytest.mark.parametrize(
    "page", [pytest.param(path, id=str(path.relative_to(DOCS))) for path in PAGES]
)
def test_page_blocks_run_in_order(page, tmp_path):
    namespace = {"__name__": "__main__"}
    name = str(page.relative_to(DOCS.parent))
    for line, source in python_blocks(page):
        failure = None
        try:
            run_block(name, line, source, namespace, tmp_path)
        except Exception as error:
            failure = error
        if failure is not None:  # outside the except clause, which pytest would print too
            pytest.fail("".join(traceback.format_exception(failure)), pytrace=False)
