"""Sphinx configuration for skvae's documentation.

Build it from the project root with ``python3 -m sphinx -W -b html docs docs/_build/html``
(``-W``: every warning is an error, as in CI). The gallery under ``examples/`` runs while the
site builds, so the pictures on its pages are made by the code beside them.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _gallery_scraper
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the gallery's small models: one thread is fastest

import skvae  # noqa: E402
from _gallery_scraper import TightScraper  # noqa: E402

project = "skvae"
author = "the skvae developers"
copyright = "2026, the skvae developers"
release = skvae.__version__
version = skvae.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "_static", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
# No network here or in CI: intersphinx is for readers' builds; a failed fetch only warns,
# so offline builds skip it.
if os.environ.get("SKVAE_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}

sphinx_gallery_conf = {
    "image_scrapers": (TightScraper(),),
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(digits_demo|mnist_figures)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "show_memory": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"skvae {release}"
html_static_path = ["_static"]
# MathJax from _static (vendored, see _static/mathjax/README.md): the pages render offline too
mathjax_path = "mathjax/tex-chtml.js"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
}
html_sidebars = {"index": [], "install": [], "changelog": []}


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods (metadata routing)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
