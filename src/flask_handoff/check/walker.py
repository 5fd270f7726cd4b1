"""One function's body, read once: the project functions it calls, what it reads that
needs a request, and where it starts code outside the request.

Code under a guard is skipped: ``if has_request_context():`` (or ``if request:``), the
rest of a block after ``if not has_request_context(): return``, the right side of
``has_request_context() and ...``, and a ``try`` whose handler catches ``RuntimeError``
(what Flask raises outside a request; not ``Exception``, which a job's
logging wrapper catches). A line ending in ``# handoff: ignore`` is skipped.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import names
from .project import (
    ClassInfo,
    External,
    Function,
    Instance,
    Module,
    ProxyRef,
    SignalRef,
    instance_of,
    parameter_names,
    positional_parameters,
)

if TYPE_CHECKING:
    from .project import Project, Target

IGNORE_MARK = "# handoff: ignore"
#: Only a handler written for it: ``except Exception`` around a whole job (to log its
#: failure) does not make a read that fails there any less of a bug.
CATCHES_OUTSIDE_REQUEST = {"RuntimeError"}


#: How a call was made, where it matters: inside the caller's own app context (its
#: ``g`` is the caller's), by a library (a callback), by method name only (possible).
IN_APP_CONTEXT = "app"
LIBRARY = "library"
BY_NAME = "name"
SIGNAL = "signal"


#: A parameter and the truth it needs (``("flash_it", True)``).
Conditions = tuple[tuple[str, bool], ...]
#: What a call gives a parameter: ``True``/``False`` (a constant's truth) or the name of
#: a parameter of the caller.
Bound = bool | str


@dataclass(frozen=True)
class Call:
    target: Function
    line: int
    how: str = ""
    #: What the call gives the target's parameters, where the checker can tell: a
    #: constant's truth (``flash=False``, or a default left as it is), or a parameter of
    #: the caller passed on (``allow_session=allow_session``).
    binds: tuple[tuple[str, Bound], ...] = ()
    #: What the caller's parameters must be for the call to run (``if not return_file:``).
    when: Conditions = ()
    node: ast.Call | None = field(default=None, compare=False)  # its arguments


@dataclass(frozen=True)
class Choice:
    """A value of a dispatch table, and where its names are looked up."""

    module: Module
    scope: Function | None
    value: ast.expr


@dataclass(frozen=True)
class Sink:
    text: str  # "request.cookies", "url_for()"
    line: int
    body: bool = False  # reads the request's body
    proxy: str = ""  # "request": a proxy read; "": a call
    #: What the function's parameters must be for the read to run (``if flash_it:``
    #: needs ``flash_it`` true): a caller that gives them the opposite does not reach it.
    when: Conditions = ()


@dataclass(frozen=True)
class Spawn:
    kind: names.Kind
    target: Function | None
    line: int
    handed: tuple[str, ...] = ()  # request proxies passed to it as arguments
    sent: bool = False  # a task's arguments sent (``task.delay(...)``), not a start


@dataclass
class Facts:
    calls: list[Call] = field(default_factory=list)
    sinks: list[Sink] = field(default_factory=list)
    spawns: list[Spawn] = field(default_factory=list)
    g_stores: set[str] = field(default_factory=set)  # ``g.user = ...``: set here
    #: Parameters this function hands to a starter (``queue.enqueue_call(func=func)``):
    #: what its callers pass there starts elsewhere.
    forwards: list[tuple[names.Kind, str]] = field(default_factory=list)
    #: Signals it sends (each receiver runs here) and receivers it connects.
    sends: list[tuple[SignalRef, int, str]] = field(default_factory=list)
    connects: list[tuple[SignalRef, Function]] = field(default_factory=list)


class Walker(ast.NodeVisitor):
    def __init__(self, project: Project, fn: Function, extra_sinks: set[str]) -> None:
        self.project = project
        self.fn = fn
        self.module = fn.module
        self.extra_sinks = extra_sinks
        self.facts = Facts()
        self.guarded = 0
        self.own_app_context = 0  # inside `with app.app_context():`: its `g` is its own
        #: Local dispatch tables (``handlers = {"a": f}``) and names picked from one
        #: (``handler = handlers.get(kind)``): the functions they may hold.
        self.tables: dict[str, list[Choice]] = {}
        self.picks: dict[str, list[Choice]] = {}
        #: Local names that hold a guard's answer (``in_request = has_request_context()``).
        self.guard_names: dict[str, bool] = {}
        #: The parameters the code being read runs under (``if flash_it:``).
        self.conditions: list[tuple[str, bool]] = []
        self.params = parameter_names(fn.node)

    def walk(self) -> Facts:
        node = self.fn.node
        if isinstance(node, ast.Lambda):
            self.visit(node.body)
        elif isinstance(node, ast.Module):
            self.block(node.body)
        else:
            self.block(node.body)
        return self.facts

    # -- guards -----------------------------------------------------------------------------

    def block(self, body: list[ast.stmt]) -> None:
        extra = conditions = 0
        for stmt in body:
            if isinstance(stmt, ast.If) and not stmt.orelse and _leaves(stmt.body):
                if self._guard(stmt.test) is False:
                    self.block(stmt.body)  # `if not has_request_context(): return`
                    self.guarded += 1
                    extra += 1
                    continue
                tested = self._parameter_tested(stmt.test)
                if tested is not None:  # `if return_file: return ...`: the rest needs it false
                    self.visit(stmt)
                    self.conditions.append((tested[0], not tested[1]))
                    conditions += 1
                    continue
            self.visit(stmt)
        self.guarded -= extra
        del self.conditions[len(self.conditions) - conditions :]

    def _guard(self, test: ast.expr) -> bool | None:
        """True: ``test`` holds only in a request; False: only outside; None: neither."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self._guard(test.operand)
            return None if inner is None else not inner
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            return True if any(self._guard(v) for v in test.values) else None
        if isinstance(test, ast.Name) and test.id in self.guard_names:
            return self.guard_names[test.id]
        if isinstance(test, ast.Call):
            if _is_builtin_call(test, "hasattr") and self._is_proxy(test.args[0], "g"):
                return True  # `hasattr(g, "user")`: a job's own `g` has nothing set
            if (
                _is_builtin_call(test, "getattr")
                and len(test.args) == 3
                and self._is_proxy(test.args[0], "g")
                and _truth(test.args[2]) is False
            ):
                return True  # `getattr(g, "user", None)`: likewise
            if (
                isinstance(test.func, ast.Attribute)
                and test.func.attr == "get"
                and self._is_proxy(test.func.value, "g")
                and (len(test.args) < 2 or _truth(test.args[1]) is False)
            ):
                return True  # `g.get("user")`
            called = self.resolve(test.func)
            return True if isinstance(called, External) and called.path in names.GUARDS else None
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.In)
            and self._is_proxy(test.comparators[0], "g")
        ):
            return True  # `"user" in g`
        resolved = self.resolve(test)
        if isinstance(resolved, External) and names.PROXIES.get(resolved.path) in (
            names.GUARD_PROXIES
        ):
            return True
        return None

    def _tolerant_target(self, node: ast.expr) -> bool:
        """``g``, ``current_user``, or ``x or current_user``: what a ``getattr`` with a
        default reads safely outside a request."""
        parts = node.values if isinstance(node, ast.BoolOp) else [node]
        return any(self._is_proxy(p, "g") or self._is_proxy(p, "current_user") for p in parts)

    def _parameter_tested(self, test: ast.expr) -> tuple[str, bool] | None:
        """``if flag:`` / ``if not flag:`` on a parameter: the parameter and the truth
        the body needs (the first such operand of an ``and``)."""
        is_and = isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And)
        for part in test.values if isinstance(test, ast.BoolOp) and is_and else [test]:
            needs = True
            if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.Not):
                part, needs = part.operand, False
            if isinstance(part, ast.Name) and part.id in self.params:
                return part.id, needs
            if not is_and:
                return None
        return None

    def _is_proxy(self, node: ast.expr, proxy: str) -> bool:
        resolved = self.resolve(node)
        return isinstance(resolved, External) and names.PROXIES.get(resolved.path) == proxy

    def _guarded(self, nodes: list[ast.stmt] | ast.expr) -> None:
        self.guarded += 1
        if isinstance(nodes, list):
            self.block(nodes)
        else:
            self.visit(nodes)
        self.guarded -= 1

    def visit_If(self, node: ast.If) -> None:
        guard = self._guard(node.test)
        if guard is None:
            self.visit(node.test)
            tested = self._parameter_tested(node.test)
            if tested is None:
                self.block(node.body)
                self.block(node.orelse)
            else:
                self.conditions.append(tested)
                self.block(node.body)
                self.conditions[-1] = (tested[0], not tested[1])
                self.block(node.orelse)
                self.conditions.pop()
        elif guard:
            self._guarded(node.body)
            self.block(node.orelse)
        else:
            self.block(node.body)
            self._guarded(node.orelse)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        guard = self._guard(node.test)
        if guard is None:
            self.generic_visit(node)
        else:
            self._guarded(node.body) if guard else self.visit(node.body)
            self._guarded(node.orelse) if not guard else self.visit(node.orelse)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        guarding = 0
        for value in node.values:
            if isinstance(node.op, ast.And) and self._guard(value):
                guarding += 1
                self.guarded += 1
                continue
            self.visit(value)
        self.guarded -= guarding

    def visit_Try(self, node: ast.Try) -> None:
        if any(self._catches_outside_request(h) for h in node.handlers):
            self._guarded(node.body)
        else:
            self.block(node.body)
        for handler in node.handlers:
            self.block(handler.body)
        self.block(node.orelse)
        self.block(node.finalbody)

    def _catches_outside_request(self, handler: ast.ExceptHandler) -> bool:
        if handler.type is None:
            return False
        caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return any(isinstance(c, ast.Name) and c.id in CATCHES_OUTSIDE_REQUEST for c in caught)

    # -- what is read and called ------------------------------------------------------------

    def _skipped(self, node: ast.AST) -> bool:
        if self.guarded:
            return True
        # Marked for every rule: nothing on the line counts, calls included.
        return self.module.ignored.get(getattr(node, "lineno", 0)) == frozenset()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            resolved = self.resolve(node)
            if isinstance(resolved, External) and resolved.path in names.READ_PROXIES:
                proxy = names.READ_PROXIES[resolved.path]
                self._sink(node, proxy, proxy=proxy)
            elif isinstance(resolved, ProxyRef):  # the project's own LocalProxy: its getter runs
                getter = self.project.getter(resolved)
                if getter is not None and not self._skipped(node):
                    self.facts.calls.append(Call(getter, node.lineno))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        whole = self.resolve(node)  # `flask.request` itself
        if isinstance(whole, External) and whole.path in names.READ_PROXIES:
            proxy = names.READ_PROXIES[whole.path]
            self._sink(node, proxy, proxy=proxy)
            return
        base = self.resolve(node.value)
        if isinstance(base, External) and base.path in names.READ_PROXIES:
            proxy = names.READ_PROXIES[base.path]
            if proxy == "g" and isinstance(node.ctx, ast.Store) and not self.own_app_context:
                self.facts.g_stores.add(node.attr)  # not the `g` of a `with` of its own
            if proxy == "g" and (
                node.attr in names.G_TOLERANT or not isinstance(node.ctx, ast.Load)
            ):
                # `g.get("user")` gives the default in a job's own `g`; `g.user = ...`
                # sets it there (read back later in the job, it is the job's own value)
                return
            body = proxy == "request" and node.attr in names.BODY
            self._sink(node, f"{proxy}.{node.attr}", proxy=proxy, body=body)
            return
        self.generic_visit(node)

    def _sink(self, node: ast.AST, text: str, *, proxy: str = "", body: bool = False) -> None:
        if proxy in names.APP_CONTEXT_PROXIES and self.own_app_context:
            return
        if not self._skipped(node):
            line = node.lineno  # type: ignore[attr-defined]
            self.facts.sinks.append(Sink(text, line, body, proxy, tuple(self.conditions)))

    def visit_Call(self, node: ast.Call) -> None:
        if _is_builtin_call(node, "setattr") and self._is_proxy(node.args[0], "g"):
            # `setattr(g, key, value)`: a store on the job's own g, as `g.x = ...` is
            name = node.args[1] if len(node.args) > 1 else None
            stored = name.value if isinstance(name, ast.Constant) else "*"
            if not self.own_app_context:
                self.facts.g_stores.add(str(stored))
            for arg in node.args[1:]:
                self.visit(arg)
            return
        if (
            _is_builtin_call(node, "getattr")
            and len(node.args) == 2
            and self._is_proxy(node.args[0], "g")
        ):
            name = node.args[1]
            text = f"g.{name.value!s}" if isinstance(name, ast.Constant) else "g.*"
            self._sink(node, text, proxy="g")  # read back where a path stores it first
            self.visit(name)
            return
        if (
            _is_builtin_call(node, "getattr")
            and len(node.args) == 3
            and self._tolerant_target(node.args[0])
        ):
            # `getattr(g, "user", None)`: a job's own g has nothing set, and current_user
            # is None outside a request: both give the default
            self.visit(node.args[2])
            return
        called = self.resolve(node.func)
        if not self._skipped(node):
            self._call(node, called)
        self.generic_visit(node)

    def _call(self, node: ast.Call, called: Target) -> None:
        how = IN_APP_CONTEXT if self.own_app_context else ""
        if isinstance(node.func, ast.Attribute) and node.func.attr in names.SENDERS:
            self._sent(node)
        if called is None:
            self._call_unresolved(node, how)
            return
        if isinstance(called, Function):
            if called.id in self.extra_sinks:
                self._call_sink(f"{called.qualname}()", node.lineno)
            self.facts.calls.append(self._call_to(called, node, how))
        elif isinstance(called, ClassInfo):
            init = self.project.method(called, "__init__")
            if init is not None:
                self.facts.calls.append(Call(init, node.lineno, how))
        elif isinstance(called, External):
            if called.path in names.CALLS:
                self._call_sink(f"{names.CALLS[called.path]}()", node.lineno)
            elif called.path in self.extra_sinks:
                self._call_sink(f"{called.path}()", node.lineno)
            elif called.path in names.STARTERS:
                self._spawn(node, *names.STARTERS[called.path])
            elif called.path in names.RESPONSES:
                self._streamed(node)
        if isinstance(node.func, ast.Attribute) and isinstance(called, External | Instance):
            method = node.func.attr
            if method in names.METHOD_STARTERS and (
                isinstance(called, Instance) or called.path not in names.STARTERS
            ):
                self._spawn(node, *names.METHOD_STARTERS[method])
            elif method in names.RESPONSE_METHODS:
                self._streamed(node)

    def _call_sink(self, text: str, line: int) -> None:
        """A call that needs the request (``url_for()``), under the current conditions."""
        self.facts.sinks.append(Sink(text, line, when=tuple(self.conditions)))

    def _call_to(self, target: Function, node: ast.Call, how: str) -> Call:
        binds = _bindings(node, target, self.params)
        return Call(target, node.lineno, how, binds, tuple(self.conditions), node)

    def _call_unresolved(self, node: ast.Call, how: str) -> None:
        """A call the names do not resolve: a pick from a dispatch table (every function
        it holds), a signal sent or connected, a pool kept in ``app.extensions``, a
        method that starts its argument elsewhere, or a method of an object of unknown
        class (the project's methods of that name, if few define it)."""
        if isinstance(node.func, ast.Attribute):
            signal = self.resolve(node.func.value)
            if isinstance(signal, SignalRef):
                self._signal(node, signal, node.func.attr, how)
                return
            receiver = node.func.value
            if (
                node.func.attr in names.EXTENSION_POOL_METHODS
                and isinstance(receiver, ast.Subscript)
                and isinstance(receiver.value, ast.Attribute)
                and receiver.value.attr == "extensions"
            ):
                self._spawn(node, names.POOL, "fn", 0)
                return
        picked = self._picked(node.func)
        if picked is not None:
            for choice in picked:
                target = self._chosen(choice)
                if target is not None:
                    self.facts.calls.append(Call(target, node.lineno, how))
            return
        if not isinstance(node.func, ast.Attribute):
            return
        method = node.func.attr
        if method in names.METHOD_STARTERS:
            self._spawn(node, *names.METHOD_STARTERS[method])
            return
        if method in names.RESPONSE_METHODS:
            self._streamed(node)
            return
        if method.startswith("__") or (
            method in names.COMMON_METHODS and not self._on_injected(node.func)
        ):
            return
        candidates = [c for c in self.project.methods_named(method) if not _is_view(c)]
        if 0 < len(candidates) <= names.BY_NAME_LIMIT:
            self.facts.calls += [self._call_to(c, node, BY_NAME) for c in candidates]

    def _chosen(self, choice: Choice) -> Function | None:
        """The function a table's value is (a function of the project, or a lambda)."""
        if choice.module is self.module and choice.scope is self.fn:
            target = self.target_function(choice.value)
            return target if isinstance(target, Function) else None
        if isinstance(choice.value, ast.Lambda):
            return self.project.lambda_function(
                self.project.module_code(choice.module), choice.value
            )
        found = self.project.expression(choice.module, choice.value, choice.scope)
        return found if isinstance(found, Function) else None

    def _on_injected(self, func: ast.Attribute) -> bool:
        """``self.store.add()`` where the instance was handed ``store``: a collaborator,
        likely the project's own, so even a common method name is followed."""
        receiver = func.value
        if not (
            isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id == "self"
        ):
            return False
        own = self.project.self_or_cls(receiver.value.id, self.fn)
        if not isinstance(own, Instance) or own.external:
            return False
        cls = self.project.classes.get(own.of)
        return cls is not None and any(
            receiver.attr in klass.injected for klass in self.project.mro(cls)
        )

    def _signal(self, node: ast.Call, signal: SignalRef, method: str, how: str) -> None:
        if method == "send":
            self.facts.sends.append((signal, node.lineno, how))
        elif method in names.SIGNAL_CONNECTS and node.args:
            receiver = self.target_function(node.args[0])
            if isinstance(receiver, Function):
                self.facts.connects.append((signal, receiver))

    def _picked(self, node: ast.expr) -> list[Choice] | None:
        """The functions ``node`` may be when it is taken from a dispatch table:
        ``table[key]``, ``table.get(key, default)``, or a name bound to one of these."""
        if isinstance(node, ast.Name):
            return self.picks.get(node.id)
        if isinstance(node, ast.Subscript):
            return self._table(node.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
        ):
            values = self._table(node.func.value)
            if values is not None and len(node.args) > 1:
                values = [*values, Choice(self.module, self.fn, node.args[1])]
            return values
        return None

    def _table(self, node: ast.expr) -> list[Choice] | None:
        if not isinstance(node, ast.Name):
            return None
        if node.id in self.tables:
            return self.tables[node.id]
        if node.id in self.fn.bound:
            return None
        found = self.project.table(self.module, node.id)
        if found is None:
            return None
        module, values = found
        return [Choice(module, None, value) for value in values]

    def _spawn(self, node: ast.Call, kind: names.Kind, keyword: str, position: int) -> None:
        target_node = next((k.value for k in node.keywords if k.arg == keyword), None)
        if target_node is None and len(node.args) > position:
            target_node = node.args[position]
        target = self.target_function(target_node) if target_node is not None else None
        if isinstance(target, tuple):  # copy_current_request_context(fn) as the target
            kind, target = target
        if isinstance(target_node, ast.Name) and target_node.id in self.params:
            self.facts.forwards.append((kind, target_node.id))  # a wrapper of the starter
        others = [a for i, a in enumerate(node.args) if a is not target_node]
        others += [k.value for k in node.keywords if k.value is not target_node]
        self.facts.spawns.append(Spawn(kind, target, node.lineno, self._handed(others)))

    def _streamed(self, node: ast.Call) -> None:
        """``Response(generate())``: the project generator runs once the view returned,
        outside the request, unless it is wrapped in ``stream_with_context``."""
        body = next((k.value for k in node.keywords if k.arg == "response"), None)
        if body is None and node.args:
            body = node.args[0]
        if not isinstance(body, ast.Call):
            return
        made_by = self.resolve(body.func)
        if (
            isinstance(made_by, Function)
            and _is_generator(made_by.node)
            and not self._decorated_with(made_by, names.STREAM_WITH_CONTEXT)
        ):
            self.facts.spawns.append(Spawn(names.STREAMED, made_by, node.lineno))

    def _decorated_with(self, fn: Function, paths: set[str]) -> bool:
        node = fn.node
        if isinstance(node, (ast.Lambda, ast.Module)):
            return False
        for decorator in node.decorator_list:
            found = self.project.expression(fn.module, decorator, fn.parent)
            if isinstance(found, External) and found.path in paths:
                return True
        return False

    def _sent(self, node: ast.Call) -> None:
        """``task.delay(request)``: a proxy sent with a task fails in its worker."""
        assert isinstance(node.func, ast.Attribute)
        task = self.resolve(node.func.value)
        if isinstance(task, Function):
            handed = self._handed([*node.args, *(k.value for k in node.keywords)])
            if handed:
                self.facts.spawns.append(Spawn(names.CELERY, task, node.lineno, handed, sent=True))

    def _handed(self, args: list[ast.expr]) -> tuple[str, ...]:
        found: list[str] = []
        for arg in args:
            items = arg.elts if isinstance(arg, (ast.Tuple, ast.List)) else [arg]
            if isinstance(arg, ast.Dict):
                items = [v for v in arg.values if v is not None]
            for item in items:
                resolved = self.resolve(item)
                if isinstance(resolved, External) and resolved.path in names.PROXIES:
                    found.append(names.PROXIES[resolved.path])
        return tuple(found)

    def target_function(
        self, node: ast.expr
    ) -> Function | tuple[names.Kind, Function | None] | None:
        """The function a starter is given: a name, a method, a lambda, a partial."""
        if isinstance(node, ast.Lambda):
            return self.project.lambda_function(self.fn, node)
        if isinstance(node, ast.Call):
            wrapper = self.resolve(node.func)
            if isinstance(wrapper, External) and node.args:
                inner = self.target_function(node.args[0])
                if wrapper.path in names.PARTIAL:
                    return inner
                if wrapper.path in names.COPY_CONTEXT and not isinstance(inner, tuple):
                    return (names.COPIED, inner)
            return None
        resolved = self.resolve(node)
        return resolved if isinstance(resolved, Function) else None

    # -- local names ------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        for target in node.targets:
            if not isinstance(target, ast.Name):
                continue
            self.tables.pop(target.id, None)
            self.picks.pop(target.id, None)
            self.guard_names.pop(target.id, None)
            guard = self._guard(node.value)
            if guard is not None and len(node.targets) == 1:
                self.guard_names[target.id] = guard
                continue
            if isinstance(node.value, ast.Dict):
                self.tables[target.id] = [
                    Choice(self.module, self.fn, v) for v in node.value.values if v is not None
                ]
                continue
            picked = self._picked(node.value)
            if picked is not None:
                self.picks[target.id] = picked
            elif isinstance(node.value, ast.Call):
                self._bind(target.id, node.value)

    def visit_With(self, node: ast.With) -> None:
        pushes = set()
        for item in node.items:
            self.visit(item.context_expr)
            if isinstance(item.optional_vars, ast.Name) and isinstance(item.context_expr, ast.Call):
                self._bind(item.optional_vars.id, item.context_expr)
            pushes.add(_pushed_context(item.context_expr))
        if "request" in pushes:  # the code makes the request it reads
            self._guarded(node.body)
        elif "app" in pushes:
            self.own_app_context += 1
            self.block(node.body)
            self.own_app_context -= 1
        else:
            self.block(node.body)

    def _bind(self, name: str, call: ast.Call) -> None:
        if isinstance(self.fn.node, ast.Module):
            return  # a module's names are the project's (instances, signals, proxies)
        made = instance_of(self.resolve(call.func))
        if isinstance(made, Instance):
            self.fn.locals[name] = made
        else:
            self.fn.locals.pop(name, None)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:  # the body is a function of its own
            self.visit(decorator)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        pass

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def resolve(self, node: ast.expr) -> Target:
        return self.project.expression(self.module, node, self.fn)


def _bindings(
    call: ast.Call, target: Function, caller_params: set[str]
) -> tuple[tuple[str, Bound], ...]:
    """What ``call`` gives ``target``'s parameters: constants (its defaults included)
    by their truth, and the caller's own parameters passed on by name."""
    node = target.node
    if isinstance(node, ast.Module):
        return ()
    args = node.args
    positional = positional_parameters(call, target)
    given: dict[str, ast.expr] = dict(zip(positional, call.args, strict=False))
    given.update({k.arg: k.value for k in call.keywords if k.arg})
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return ()  # `*args` / `**kwargs`: what goes where is not known
    defaults = dict(zip(reversed(positional), reversed(args.defaults), strict=False))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d})
    binds: list[tuple[str, Bound]] = []
    for name in [*positional, *(a.arg for a in args.kwonlyargs)]:
        value = given.get(name, defaults.get(name))
        truth = _truth(value) if value is not None else None
        if truth is not None:
            binds.append((name, truth))
        elif isinstance(value, ast.Name) and name in given and value.id in caller_params:
            binds.append((name, value.id))
    return tuple(binds)


def _is_view(method: Function) -> bool:
    """A method decorated as a view (``@bp.route(...)``, ``@expose(...)``)."""
    node = method.node
    if isinstance(node, (ast.Lambda, ast.Module)):
        return False
    for decorator in node.decorator_list:
        called = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
        if name in names.VIEW_DECORATORS and isinstance(decorator, ast.Call):
            return True
    return False


def _truth(value: ast.expr) -> bool | None:
    """The truth of a value the code spells out: a constant, a literal container, a
    string built around a non-empty literal (``"https://" + name``, an f-string)."""
    if isinstance(value, ast.Constant):
        return bool(value.value)
    if isinstance(value, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
        return bool(value.keys if isinstance(value, ast.Dict) else value.elts)
    if isinstance(value, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and v.value for v in value.values) or None
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        sides = (value.left, value.right)
        return (
            any(isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value for v in sides)
            or None
        )
    return None


def _is_generator(node: ast.AST) -> bool:
    """A function whose own body yields (not a function or lambda defined in it)."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    todo: list[ast.AST] = list(node.body)
    while todo:
        current = todo.pop()
        if isinstance(current, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(
            current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
        ):
            todo.extend(ast.iter_child_nodes(current))
    return False


def _is_builtin_call(node: ast.Call, name: str) -> bool:
    return isinstance(node.func, ast.Name) and node.func.id == name and bool(node.args)


def _pushed_context(expr: ast.expr) -> str:
    """ "request" for ``x.test_request_context(...)`` / ``x.request_context(...)``, "app"
    for ``x.app_context()``: the context a ``with`` pushes, whatever ``x`` is."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return names.PUSHES.get(expr.func.attr, "")
    return ""


def _leaves(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))
