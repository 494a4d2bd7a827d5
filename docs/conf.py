# Sphinx configuration for the nhtad documentation.
#
# Build (from the repository root, with the `docs` extra installed: pip install -e ".[docs]"):
#
#     sphinx-build -W --keep-going -b html docs /tmp/nhtad-docs-html
#
# -W turns every warning into an error; the site must build without any (about 10 s). The
# output directory can be anywhere; docs/_build is git-ignored. The pages are the
# Markdown files in docs/ (MyST), the README (docs/quickstart.md includes ../README.md) and the
# API reference in docs/api/ (autodoc + autosummary tables + numpydoc). Nothing is fetched from
# the network at build time (no intersphinx) and no files are generated inside docs/.
from __future__ import annotations

import importlib.util
import os
import re
import sys

# Document the checkout this conf.py belongs to, installed or not.
sys.path.insert(0, os.path.abspath(".."))

import nhtad  # noqa: E402

project = "nhtad"
author = "nhtad developers"
copyright = "nhtad developers"
release = version = nhtad.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",  # the ``.. math::`` blocks of nhtad.stats (MathJax loads in the browser)
    "numpydoc",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "**/.ipynb_checkpoints",
    # Written by benchmarks/study_honest_null.py and included by study_honest_null.md.
    "studies/honest_null/tables.md",
]

# -- MyST ---------------------------------------------------------------------------------------
# The pages use GFM pipe tables (built in) and no dollar math; heading anchors let `page.md#x`
# links resolve.
myst_heading_anchors = 3

# -- autodoc / autosummary / numpydoc -----------------------------------------------------------
# nhtad.scoring imports torch (and the SA-CWoLa net skorch) at import time. With the `torch`
# extra installed the real modules are used; without it autodoc mocks them, so the `docs` extra
# alone is enough to build the site.
autodoc_mock_imports = [
    name for name in ("torch", "skorch") if importlib.util.find_spec(name) is None
]
autodoc_member_order = "bysource"  # with __all__, this is the order of __all__
autodoc_typehints = "none"  # types are written in the numpydoc Parameters sections
autosummary_generate = False  # summary tables only; the objects are documented by automodule
numpydoc_show_class_members = False  # autodoc documents the members; no member tables
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# No intersphinx: it needs the network at build time.

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "nhtad"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


# -- Links that work on GitHub but point outside docs/ -----------------------------------------
# docs/index.md links the README as ../README.md so that the link works when browsing the
# repository; in the site, the README is the page `quickstart` (docs/quickstart.md includes it).
_SITE_LINKS = {"](../README.md)": "](quickstart.md)"}


def _rewrite_site_links(app, docname, source):
    text = source[0]
    for old, new in _SITE_LINKS.items():
        text = text.replace(old, new)
    source[0] = text


# scikit-learn adds set_{fit,score,...}_request methods to every estimator (metadata routing);
# their docstrings refer to scikit-learn's own glossary, and they are not nhtad's API.
_SKLEARN_REQUEST = re.compile(r"^set_\w+_request$")


def _skip_sklearn_members(app, what, name, obj, skip, options):
    if _SKLEARN_REQUEST.match(name):
        return True
    return None


def setup(app):
    app.connect("source-read", _rewrite_site_links)
    app.connect("autodoc-skip-member", _skip_sklearn_members)
