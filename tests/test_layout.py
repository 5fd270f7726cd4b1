"""The house is one-way: benchmarks → phonetool → flask_handoff, and no module imports a
module that imports it back, not even from inside a function. Read from the source with
``ast``; imports under ``TYPE_CHECKING`` are for the type checker only and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "flask_handoff": ROOT / "src",
    "phonetool": ROOT / "service" / "src",
    "benchmarks": ROOT,
}
#: Who may import whom: a layer imports only the layers after it.
LAYERS = ("benchmarks", "phonetool", "flask_handoff")


def _modules() -> dict[str, Path]:
    found = {}
    for package, base in PACKAGES.items():
        for path in (base / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's scripts, run by Alembic
            parts = path.relative_to(base).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project's modules ``name`` imports; a package ``name`` sits in is no edge
    (``from . import x`` runs with the package half-made, as Python means it to)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _module_level(ast.parse(path.read_text()).body):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        out |= {t for t in targets if t in known and t != name and not name.startswith(t + ".")}
    return out


def _module_level(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs, at import or when a function is called; not those under
    ``if TYPE_CHECKING:``, which only the type checker reads. An import moved into a
    function to dodge a circle is still one."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += _module_level(node.orelse)
            continue
        for child in ast.walk(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for module, imported in _graph().items():
        rank = LAYERS.index(module.split(".")[0])
        for other in imported:
            if LAYERS.index(other.split(".")[0]) < rank:
                wrong.append(f"{module} imports {other}")
    assert wrong == []


def test_no_module_imports_a_module_that_imports_it() -> None:
    graph = _graph()
    circles: set[tuple[str, ...]] = set()

    def visit(module: str, path: list[str]) -> None:
        for other in graph[module]:
            if other in path:
                circle = path[path.index(other) :]
                start = circle.index(min(circle))
                circles.add(tuple(circle[start:] + circle[:start]))
            else:
                visit(other, [*path, other])

    for module in graph:
        visit(module, [module])
    assert sorted(circles) == []
