"""``[tool.flask-handoff.check]`` in the project's ``pyproject.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

#: Folders never read: environments, caches, builds.
SKIPPED_DIRS = {
    "__pycache__",
    "node_modules",
    "site-packages",
    "build",
    "dist",
    "venv",
}


class CheckConfigError(Exception):
    """The checker's settings cannot be used; the message says which and why."""


@dataclass
class CheckConfig:
    """What to read, and the project's own sinks and entry points.

    ```toml
    [tool.flask-handoff.check]
    include = ["src"]                      # read when no paths are given
    exclude = ["src/legacy/*"]             # globs, relative to pyproject.toml
    sinks = ["shop.auth:current_tenant"]   # functions that need a request
    entry-points = ["shop.jobs:nightly"]   # functions that run outside one
    task-decorators = ["shop.jobs:in_background"]  # so do the functions these decorate
    library-callbacks = ["dramatiq.Middleware:before_process_message"]
    select = ["HO"]                        # rule codes or prefixes
    ignore = ["HO101"]
    ```
    """

    root: Path = field(default_factory=Path.cwd)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    entry_points: list[str] = field(default_factory=list)
    #: Decorators (``"shop.jobs:in_background"``, or an outside ``"legacy_queue.job"``)
    #: whose functions run outside the request, where the checker cannot tell itself.
    task_decorators: list[str] = field(default_factory=list)
    #: Methods a library calls on the project's subclasses wherever it is used
    #: (``"wtforms.Form:validate"``: the base class, then the method).
    library_callbacks: list[str] = field(default_factory=list)
    #: Rule codes or their prefixes (``HO1``), as ruff takes them: ``select`` empty
    #: means every rule; ``ignore`` wins over ``select``.
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    def chooses(self, code: str) -> bool:
        if self.select and not any(code.startswith(s.upper()) for s in self.select):
            return False
        return not any(code.startswith(i.upper()) for i in self.ignore)


KEYS = {
    "include",
    "exclude",
    "sinks",
    "entry-points",
    "task-decorators",
    "library-callbacks",
    "select",
    "ignore",
}


def load(start: Path) -> CheckConfig:
    """The settings of the nearest ``pyproject.toml`` at or above ``start``."""
    for folder in [start, *start.parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return parse(pyproject)
    return CheckConfig(root=start)


def parse(pyproject: Path) -> CheckConfig:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CheckConfigError(f"{pyproject}: cannot read it: {exc}") from None
    table = data.get("tool", {}).get("flask-handoff", {}).get("check", {})
    unknown = set(table) - KEYS
    if unknown:
        raise CheckConfigError(
            f"{pyproject}: [tool.flask-handoff.check] has unknown keys {sorted(unknown)};"
            f" the keys are {sorted(KEYS)}."
        )
    for key, value in table.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CheckConfigError(
                f"{pyproject}: [tool.flask-handoff.check] {key} must be a list of strings."
            )
    for callback in table.get("library-callbacks", []):
        if ":" not in callback:
            raise CheckConfigError(
                f"{pyproject}: [tool.flask-handoff.check] library-callbacks entry"
                f" {callback!r} must name a base class and its method, as"
                ' "package.module.Base:method".'
            )
    return CheckConfig(
        root=pyproject.parent,
        include=table.get("include", []),
        exclude=table.get("exclude", []),
        sinks=table.get("sinks", []),
        entry_points=table.get("entry-points", []),
        task_decorators=table.get("task-decorators", []),
        library_callbacks=table.get("library-callbacks", []),
        select=table.get("select", []),
        ignore=table.get("ignore", []),
    )
