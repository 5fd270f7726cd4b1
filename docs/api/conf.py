"""Sphinx: Flask-Handoff's API reference, from its docstrings (``scripts/test`` builds it
with warnings as errors: ``sphinx-build -W -b html docs/api <out>``)."""

project = "Flask-Handoff"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Names the docstrings use from other projects: linked when online, plain text offline.
intersphinx_mapping: dict[str, tuple[str, None]] = {}
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
