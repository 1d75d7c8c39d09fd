"""Sphinx configuration for the anywebsockets documentation."""

from __future__ import annotations

import importlib.metadata

project = "anywebsockets"
author = "The anywebsockets developers"
copyright = "2026, The anywebsockets developers"
release = importlib.metadata.version("anywebsockets")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Cancellation", "notes_style")]
napoleon_attr_annotations = True

html_theme = "furo"
html_title = "anywebsockets"
exclude_patterns = ["_build"]


def _public_bases(app, name, obj, options, bases):  # type: ignore[no-untyped-def]
    """Leave private base classes (the mixins of ``Connection``) out of "Bases:"."""
    bases[:] = [base for base in bases if not getattr(base, "__name__", "").startswith("_")]


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-process-bases", _public_bases)
