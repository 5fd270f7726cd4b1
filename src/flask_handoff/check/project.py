"""The project as the checker sees it: its modules, their functions and classes, and what
each name in them stands for. Nothing of the project is imported or run.

A name resolves to a function, a class, an instance of a project class, a module, or an
outside name (``flask.request``); a name that cannot be resolved stays unresolved, and
the checker does not guess what it calls.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import names

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.Module


@dataclass(frozen=True)
class External:
    """A name from outside the project, by its dotted path (``flask.request``)."""

    path: str


@dataclass(frozen=True)
class Instance:
    """An object made by calling a class: of the project's (``of`` is its id) or from
    outside (``of`` is the outside dotted path, ``external`` set)."""

    of: str
    external: bool = False


@dataclass(frozen=True)
class ModuleRef:
    name: str


@dataclass(frozen=True)
class SignalRef:
    """A module-level blinker signal of the project (``order_paid = ns.signal(...)``)."""

    module: str
    name: str


@dataclass(frozen=True)
class ProxyRef:
    """A module-level ``LocalProxy(getter)`` of the project: reading it calls the getter."""

    module: str
    name: str


@dataclass
class Function:
    id: str  # "package.module:Class.method"
    module: Module
    qualname: str
    node: FunctionNode
    cls: ClassInfo | None = None
    parent: Function | None = None  # the function it is nested in
    nested: dict[str, Function] = field(default_factory=dict)
    #: Local names bound to an object of a known class (``x = Builder()``).
    locals: dict[str, Instance] = field(default_factory=dict)
    #: Every name the function binds (parameters, assignments, loop and ``with``
    #: targets, ...): such a name is the function's own and hides the module's.
    bound: frozenset[str] = frozenset()
    #: Names its own ``import`` statements bind.
    imports: dict[str, Import] = field(default_factory=dict)

    @property
    def line(self) -> int:
        return getattr(self.node, "lineno", 1)


@dataclass
class ClassInfo:
    id: str
    module: Module
    name: str
    node: ast.ClassDef
    methods: dict[str, Function] = field(default_factory=dict)
    #: Attributes set to an object of a known class (``self.pool = ThreadPoolExecutor()``).
    attributes: dict[str, Instance] = field(default_factory=dict)
    #: Attributes set to what a method was handed (``self.store = store``,
    #: ``self.store = kwargs["store"]``): collaborators, likely of the project.
    injected: set[str] = field(default_factory=set)


@dataclass
class Module:
    name: str
    path: Path
    display: str  # the path as findings show it
    tree: ast.Module
    #: Lines marked ``# handoff: ignore`` (no codes: every rule) or
    #: ``# handoff: ignore[HO101]`` (those rules).
    ignored: dict[int, frozenset[str]]
    is_package: bool = False
    imports: dict[str, Import] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    #: ``name = Something(...)`` at module level, until every module is known.
    made: dict[str, ast.Call] = field(default_factory=dict)
    #: ``name = functools.partial(f, ...)`` at module level: ``name`` stands for ``f``.
    partials: dict[str, ast.expr] = field(default_factory=dict)
    #: ``name = {"key": function, ...}`` at module level: a dispatch table.
    tables: dict[str, list[ast.expr]] = field(default_factory=dict)
    #: ``name = ns.signal("...")`` at module level: a blinker signal.
    signals: set[str] = field(default_factory=set)
    #: ``name = LocalProxy(getter)`` at module level: reading ``name`` calls the getter.
    proxies: dict[str, ast.expr] = field(default_factory=dict)

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


Target = Function | ClassInfo | Instance | ModuleRef | ProxyRef | SignalRef | External | None
#: What an import binds: a project module, an outside name, or (module, name) of the project.
Import = ModuleRef | External | tuple[str, str]


class Project:
    """Every module found, and the resolution of dotted names across them."""

    def __init__(self, roots: set[str]) -> None:
        #: The top-level names of the project's modules and packages: imports of these
        #: are the project's, any other is from outside.
        self.roots = roots
        self.modules: dict[str, Module] = {}
        #: Other names modules are imported by (namespace packages: see ``alias``).
        self.aliases: dict[str, Module] = {}
        self.by_display: dict[str, Module] = {}  # by the path findings show
        self._by_name: dict[str, list[Function]] | None = None
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, ClassInfo] = {}
        #: Every dotted prefix of a module's name (``a`` and ``a.b`` for ``a.b.c``).
        self.packages: set[str] = set()

    def add(self, module: Module) -> None:
        self.modules[module.name] = module
        self.by_display[module.display] = module
        parts = module.name.split(".")
        self.packages.update(".".join(parts[:i]) for i in range(1, len(parts)))
        for stmt in module.tree.body:
            _collect_statement(self, module, stmt)

    def alias(self, name: str, module: Module) -> None:
        """``module`` is also imported as ``name`` (a namespace package above it)."""
        if name not in self.modules and name not in self.aliases:
            self.aliases[name] = module
            parts = name.split(".")
            self.packages.update(".".join(parts[:i]) for i in range(1, len(parts)))

    def module_named(self, name: str) -> Module | None:
        return self.modules.get(name) or self.aliases.get(name)

    def lambda_function(self, parent: Function, node: ast.Lambda) -> Function:
        """A lambda handed to a starter, as a function of its own."""
        qualname = f"<lambda:{node.lineno}>"
        if parent.qualname != "<module>":
            qualname = f"{parent.qualname}.{qualname}"
        fn_id = f"{parent.module.name}:{qualname}"
        if fn_id not in self.functions:
            self.functions[fn_id] = Function(
                fn_id, parent.module, qualname, node, parent.cls, parent
            )
            scope_of(self, self.functions[fn_id])
        return self.functions[fn_id]

    def module_code(self, module: Module) -> Function:
        """The module's top-level statements, as a function (they may start threads)."""
        fn_id = f"{module.name}:<module>"
        if fn_id not in self.functions:
            self.functions[fn_id] = Function(fn_id, module, "<module>", module.tree)
        return self.functions[fn_id]

    def link(self) -> None:
        """Once every module is in: give module-level objects and ``self.x = ...``
        attributes their class."""
        for module in self.modules.values():
            for name, call in module.made.items():
                maker = self.expression(module, call.func, None)
                if isinstance(maker, External) and call.args:
                    if maker.path in names.PARTIAL:
                        module.partials[name] = call.args[0]
                        continue
                    if maker.path in names.LOCAL_PROXY:
                        module.proxies[name] = call.args[0]
                        continue
                if isinstance(maker, External) and maker.path in names.SIGNAL_MAKERS:
                    module.signals.add(name)
                    continue
                made = instance_of(maker)
                if isinstance(made, Instance):
                    module.instances[name] = made
        for cls in self.classes.values():
            for method in cls.methods.values():
                assert not isinstance(method.node, ast.Lambda | ast.Module)
                for node in statements(method.node.body):
                    if not isinstance(node, ast.Assign):
                        continue
                    for target in node.targets:
                        if not (
                            isinstance(target, ast.Attribute)
                            and isinstance(target.value, ast.Name)
                            and target.value.id == "self"
                        ):
                            continue
                        if _handed_in(node.value, method):
                            cls.injected.add(target.attr)
                        elif isinstance(node.value, ast.Call):
                            func = node.value.func
                            made = instance_of(self.expression(cls.module, func, method))
                            if isinstance(made, Instance):
                                cls.attributes[target.attr] = made

    # -- resolution -----------------------------------------------------------------------

    def lookup(self, module: Module, name: str, scope: Function | None = None) -> Target:
        """What ``name`` stands for in ``scope`` (a function, its enclosing functions,
        then the module)."""
        fn = scope
        while fn is not None:
            if name in fn.nested:
                return fn.nested[name]
            if name in fn.locals:
                return fn.locals[name]
            if name in fn.imports:
                return self._imported(module, fn.imports[name])
            if name in fn.bound:
                return None  # a parameter or local variable: not the module's name
            fn = fn.parent
        return self.member(module, name)

    def member(self, module: Module, name: str, seen: frozenset[str] = frozenset()) -> Target:
        """A top-level name of ``module``, following imports into other modules."""
        if name in module.functions:
            return module.functions[name]
        if name in module.classes:
            return module.classes[name]
        if name in module.instances:
            return module.instances[name]
        if name in module.partials:
            return self.expression(module, module.partials[name], None)
        if name in module.proxies:
            return ProxyRef(module.name, name)
        if name in module.signals:
            return SignalRef(module.name, name)
        imported = module.imports.get(name)
        return None if imported is None else self._imported(module, imported, seen)

    def _imported(
        self, module: Module, imported: Import, seen: frozenset[str] = frozenset()
    ) -> Target:
        if isinstance(imported, ModuleRef):
            return self._project_module(imported)
        if isinstance(imported, External):
            return imported
        source, symbol = imported
        return self.attribute(ModuleRef(source), symbol, seen | {module.name})

    def attribute(self, base: Target, name: str, seen: frozenset[str] = frozenset()) -> Target:
        """``base.name``."""
        if isinstance(base, ModuleRef):
            submodule = f"{base.name}.{name}"
            if self.module_named(submodule) is not None:
                return ModuleRef(submodule)
            module = self.module_named(base.name)
            if module is None or module.name in seen:
                return None
            return self.member(module, name, seen)
        if isinstance(base, External):
            return External(f"{base.path}.{name}")
        if isinstance(base, ClassInfo):
            return self.method(base, name)
        if isinstance(base, Instance):
            if base.external:
                return External(f"{base.of}().{name}")
            cls = self.classes.get(base.of)
            if cls is None:
                return None
            found = self.method(cls, name)
            if found is None and name in cls.attributes:
                return cls.attributes[name]
            return found
        return None

    def method(self, cls: ClassInfo, name: str) -> Function | None:
        """``name`` on ``cls`` or the first of its project base classes that has it."""
        for klass in self.mro(cls):
            if name in klass.methods:
                return klass.methods[name]
        return None

    def mro(self, cls: ClassInfo) -> list[ClassInfo]:
        order: list[ClassInfo] = []
        todo = [cls]
        while todo:
            klass = todo.pop(0)
            if klass in order:
                continue
            order.append(klass)
            todo += [b for b in self.bases(klass) if isinstance(b, ClassInfo)]
        return order

    def bases(self, cls: ClassInfo) -> list[Target]:
        return [self.expression(cls.module, base, None) for base in cls.node.bases]

    def expression(self, module: Module, node: ast.expr, scope: Function | None) -> Target:
        """What a name or dotted name (``a.b.c``) stands for; calls to classes give
        instances (``Builder().run`` is ``Builder.run``)."""
        if isinstance(node, ast.Name):
            return self.lookup(module, node.id, scope)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and scope is not None:
                special = self.self_or_cls(node.value.id, scope)
                if special is not None:
                    return self.attribute(special, node.attr)
            if _is_super(node.value) and scope is not None:
                return self._super_method(scope, node.attr)
            return self.attribute(self.expression(module, node.value, scope), node.attr)
        if isinstance(node, ast.Call):
            called = self.expression(module, node.func, scope)
            return instance_of(called)
        return None

    def self_or_cls(self, name: str, scope: Function) -> Target:
        """``self`` (an instance) or ``cls`` (the class): the first parameter of the
        method the code is in, nested functions included."""
        method = scope
        while method.parent is not None:
            method = method.parent
        node = method.node
        if (
            method.cls is None
            or isinstance(node, (ast.Lambda, ast.Module))
            or _decorated(node, "staticmethod")
        ):
            return None
        params = node.args.posonlyargs + node.args.args
        if not params or params[0].arg != name:
            return None
        return method.cls if _decorated(node, "classmethod") else Instance(method.cls.id)

    def _super_method(self, scope: Function, name: str) -> Function | None:
        """``super().name``: the method of the first base class after the caller's own."""
        method = scope
        while method.parent is not None:
            method = method.parent
        if method.cls is None:
            return None
        for klass in self.mro(method.cls)[1:]:
            if name in klass.methods:
                return klass.methods[name]
        return None

    def methods_named(self, name: str) -> list[Function]:
        """Every project class's method of this name (for calls on objects of unknown
        class: by method name, as class hierarchy analysis resolves them)."""
        if self._by_name is None:
            self._by_name = {}
            for cls in self.classes.values():
                for method_name, method in cls.methods.items():
                    self._by_name.setdefault(method_name, []).append(method)
        return self._by_name.get(name, [])

    def table(self, module: Module, name: str) -> tuple[Module, list[ast.expr]] | None:
        """A module-level dispatch table, defined here or imported, and its module."""
        if name in module.tables:
            return module, module.tables[name]
        imported = module.imports.get(name)
        source = self.module_named(imported[0]) if isinstance(imported, tuple) else None
        if isinstance(imported, tuple) and source is not None and imported[1] in source.tables:
            return source, source.tables[imported[1]]
        return None

    def getter(self, proxy: ProxyRef) -> Function | None:
        """The function a project's ``LocalProxy`` calls when it is read."""
        module = self.modules[proxy.module]
        node = module.proxies[proxy.name]
        if isinstance(node, ast.Lambda):
            return self.lambda_function(self.module_code(module), node)
        found = self.expression(module, node, None)
        return found if isinstance(found, Function) else None

    def _project_module(self, ref: ModuleRef) -> Target:
        known = self.module_named(ref.name) is not None or ref.name in self.packages
        return ref if known else None


def _handed_in(value: ast.expr, method: Function) -> bool:
    """``value`` is a parameter of ``method``, or an item of one (``kwargs["x"]``,
    ``kwargs.get("x")``)."""
    if isinstance(value, ast.Subscript):
        value = value.value
    elif (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "get"
    ):
        value = value.func.value
    if not isinstance(value, ast.Name):
        return False
    return value.id in parameter_names(method.node) - {"self"}


def parameter_names(node: FunctionNode) -> set[str]:
    """Every name a function's parameters bind, ``*args`` and ``**kwargs`` included."""
    if isinstance(node, ast.Module):
        return set()
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def positional_parameters(call: ast.Call, target: Function) -> list[str]:
    """The parameters ``call``'s positional arguments fill, in order; ``self`` left out
    where a method is called on its object (``obj.method(...)``)."""
    node = target.node
    if isinstance(node, ast.Module):
        return []
    names = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
    if target.cls is not None and isinstance(call.func, ast.Attribute) and names:
        return names[1:]
    return names


def _is_super(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def instance_of(called: Target) -> Target:
    """What calling ``called`` gives, where the checker can tell."""
    if isinstance(called, ClassInfo):
        return Instance(called.id)
    if isinstance(called, External):
        return Instance(called.path, external=True)
    return None


def _decorated(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    return any(isinstance(d, ast.Name) and d.id == name for d in node.decorator_list)


# -- collecting a module's definitions ---------------------------------------------------


def import_bindings(
    project: Project, module: Module, stmt: ast.stmt
) -> Iterator[tuple[str, Import]]:
    """The names an ``import`` or ``from ... import`` statement binds, and to what."""
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                yield alias.asname, _module_or_external(project, alias.name)
            else:
                top = alias.name.split(".")[0]
                yield top, _module_or_external(project, top)
    elif isinstance(stmt, ast.ImportFrom):
        source = _absolute(module, stmt.module, stmt.level)
        for alias in stmt.names:
            if alias.name == "*":
                continue
            local = alias.asname or alias.name
            if stmt.level == 0 and not _in_project(project, source):
                yield local, External(f"{source}.{alias.name}")
            else:
                yield local, (source, alias.name)


def _collect_statement(project: Project, module: Module, stmt: ast.stmt) -> None:
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        module.imports.update(import_bindings(project, module, stmt))
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        module.functions[stmt.name] = _function(project, module, stmt, stmt.name)
    elif isinstance(stmt, ast.ClassDef):
        module.classes[stmt.name] = _class(project, module, stmt)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        if isinstance(stmt.value, ast.Dict):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    module.tables[target.id] = [v for v in stmt.value.values if v is not None]
        if isinstance(stmt.value, ast.Call):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    module.made[target.id] = stmt.value
    elif isinstance(stmt, (ast.If, ast.Try)):
        # Definitions under `if TYPE_CHECKING:` or `try: import x except ImportError:`.
        for inner in stmt.body:
            _collect_statement(project, module, inner)


def _function(
    project: Project,
    module: Module,
    node: FunctionNode,
    qualname: str,
    cls: ClassInfo | None = None,
    parent: Function | None = None,
) -> Function:
    fn = Function(f"{module.name}:{qualname}", module, qualname, node, cls, parent)
    project.functions[fn.id] = fn
    scope_of(project, fn)
    if not isinstance(node, (ast.Lambda, ast.Module)):
        for inner in own_definitions(node):
            fn.nested[inner.name] = _function(
                project, module, inner, f"{qualname}.{inner.name}", cls, fn
            )
    return fn


def scope_of(project: Project, fn: Function) -> None:
    """The names ``fn`` binds itself, as Python's compiler decides a function's locals:
    any binding anywhere in its body makes the name local throughout (``global`` and
    ``nonlocal`` excepted). Imports in the body are kept apart: they bind known things."""
    node = fn.node
    if isinstance(node, ast.Module):
        return
    bound = parameter_names(node)
    if isinstance(node, ast.Lambda):
        fn.bound = frozenset(bound)
        return
    declared: set[str] = set()
    for stmt in statements(node.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            fn.imports.update(import_bindings(project, fn.module, stmt))
        elif isinstance(stmt, (ast.Global, ast.Nonlocal)):
            declared.update(stmt.names)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(stmt.name)
        else:
            bound.update(_stored_names(stmt))
    fn.bound = frozenset(bound - declared - set(fn.imports))


def _stored_names(stmt: ast.stmt) -> Iterator[str]:
    """Names a statement assigns (its targets, ``with ... as``, ``except ... as``, walrus
    targets in its own expressions), not those of the statements inside it."""
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in stmt.items if item.optional_vars is not None]
    elif isinstance(stmt, ast.Try | ast.TryStar):
        yield from (h.name for h in stmt.handlers if h.name)
    while targets:
        target = targets.pop()
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            targets += target.elts
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
        # `g.user = ...` and `d[k] = ...` bind no name: they change an object


def own_definitions(node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions defined in ``node``'s own body, not in a function or class in it."""
    for stmt in statements(getattr(node, "body", [])):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield stmt


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of a body, those in its ``if``/``for``/``with``/``try`` blocks
    included, not those in the functions and classes it defines. Only statements can
    define functions or bind names, so expressions are not walked (three times faster)."""
    todo = list(reversed(body))
    while todo:
        stmt = todo.pop()
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        inner: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody"):
            inner += getattr(stmt, name, [])
        for handler in getattr(stmt, "handlers", []):
            inner += handler.body
        for case in getattr(stmt, "cases", []):
            inner += case.body
        todo += reversed(inner)


def _class(project: Project, module: Module, node: ast.ClassDef) -> ClassInfo:
    cls = ClassInfo(f"{module.name}:{node.name}", module, node.name, node)
    project.classes[cls.id] = cls
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            cls.methods[stmt.name] = _function(
                project, module, stmt, f"{node.name}.{stmt.name}", cls
            )
    return cls


def _absolute(module: Module, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    base = module.package.split(".") if module.package else []
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _in_project(project: Project, dotted: str) -> bool:
    return dotted.split(".")[0] in project.roots


def _module_or_external(project: Project, dotted: str) -> ModuleRef | External:
    return ModuleRef(dotted) if _in_project(project, dotted) else External(dotted)
