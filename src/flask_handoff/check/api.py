"""Find the files, read the project, follow every way out of the request to what needs it.

Each place where code leaves the request (a thread target, a task, ...) is followed
through the calls the checker can resolve, breadth first, so each read that needs the
request is reported once per way out, by its shortest path.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from . import names
from .config import SKIPPED_DIRS, CheckConfig, CheckConfigError
from .messages import (
    ContextLeak,
    Finding,
    GlobalsInCopiedContext,
    ProxyHandedOver,
    ReadAfterResponse,
    Step,
    UrlForOutsideRequest,
)
from .project import (
    ClassInfo,
    External,
    Function,
    Module,
    Project,
    SignalRef,
    parameter_names,
    positional_parameters,
)
from .walker import (
    BY_NAME,
    IGNORE_MARK,
    IN_APP_CONTEXT,
    LIBRARY,
    SIGNAL,
    Call,
    Conditions,
    Facts,
    Sink,
    Walker,
)


@dataclass
class Result:
    findings: list[Finding]
    files: int
    problems: list[str] = field(default_factory=list)  # files that could not be read


@dataclass(frozen=True)
class Entry:
    kind: names.Kind
    function: Function


def check(paths: list[Path], config: CheckConfig | None = None) -> Result:
    """Check the Python files under ``paths``; nothing of them is imported or run.

    >>> result = check([Path("src")])
    >>> for finding in result.findings: print(finding.message)
    """
    config = config or CheckConfig()
    files = find_files(paths, config)
    project, problems = read_project(files, [p for p in paths if p.is_dir()])
    return Result(Analysis(project, config).findings(), len(files), problems)


def find_files(paths: list[Path], config: CheckConfig) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise CheckConfigError(f"{path}: no such file or folder.")
        if path.is_file():
            found.append(path)
            continue
        for folder, dirs, filenames in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
            found += [Path(folder, f) for f in sorted(filenames) if f.endswith(".py")]
    return [f for f in found if not _excluded(f, config)]


def _excluded(path: Path, config: CheckConfig) -> bool:
    try:
        relative = path.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        relative = path.as_posix()
    return any(fnmatch.fnmatch(relative, pattern) for pattern in config.exclude)


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted name Python would import the file by, and whether it is a package."""
    path = path.resolve()
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), is_package


def namespace_names(path: Path, name: str, roots: list[Path]) -> list[str]:
    """The longer names a file is also imported by when the folders above its package
    have no ``__init__.py`` (namespace packages: ``shop/jobs/payments.py`` imported as
    ``shop.jobs.payments``): one per folder up to the checked folder itself."""
    path = path.resolve()
    top = path.parent  # the folder above the file's package chain
    for _ in range(name.count(".") + (1 if path.name == "__init__.py" else 0)):
        top = top.parent
    inside = [r.resolve() for r in roots if top == r.resolve() or r.resolve() in top.parents]
    if not inside:
        return []
    stop = max(inside, key=lambda r: len(r.parts))
    names: list[str] = []
    longer, folder = name, top
    while folder.name.isidentifier():
        longer = f"{folder.name}.{longer}" if longer else folder.name
        names.append(longer)
        if folder == stop:
            break
        folder = folder.parent
    return names


def read_project(files: list[Path], roots: list[Path] | None = None) -> tuple[Project, list[str]]:
    """Every file as a module of the project; ``roots`` are the folders checked (the
    namespace packages in them are importable by their longer names too)."""
    named = [(f, *module_name(f)) for f in files]
    aliases = {f: namespace_names(f, name, roots or []) for f, name, _ in named}
    tops = {n.split(".")[0] for found in aliases.values() for n in found}
    project = Project({name.split(".")[0] for _, name, _ in named if name} | tops)
    problems: list[str] = []
    cwd = Path.cwd()
    for path, name, is_package in named:
        display = _display(path, cwd)
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=display)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
            problems.append(f"{display}: not read: {exc}")
            continue
        if name in project.modules:
            name = f"{name}@{display}"  # another file of the same name: not importable
        module = Module(name, path, display, tree, ignored_lines(source), is_package)
        project.add(module)
        for alias in aliases.get(path, ()):
            project.alias(alias, module)
    project.link()
    return project, problems


IGNORE_COMMENT = re.compile(r"#\s*handoff:\s*ignore(?:\[([A-Za-z0-9,\s]*)\])?\s*$")


def ignored_lines(source: str) -> dict[int, frozenset[str]]:
    """``# handoff: ignore`` (every rule) or ``# handoff: ignore[HO101, HO300]``, at the
    end of a line."""
    if IGNORE_MARK not in source:
        return {}
    marked: dict[int, frozenset[str]] = {}
    for number, line in enumerate(source.splitlines(), 1):
        found = IGNORE_COMMENT.search(line)
        if found:
            codes = found.group(1) or ""
            marked[number] = frozenset(c.strip().upper() for c in codes.split(",") if c.strip())
    return marked


def _display(path: Path, cwd: Path) -> str:
    try:
        return path.resolve().relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


class Analysis:
    def __init__(self, project: Project, config: CheckConfig) -> None:
        self.project = project
        self.config = config
        self.extra_sinks = set(config.sinks)
        self.configured = config.entry_points
        self._facts: dict[str, Facts] = {}
        self._wrappers: dict[str, names.Kind | None] = {}

    def facts(self, fn: Function) -> Facts:
        if fn.id not in self._facts:
            self._facts[fn.id] = Walker(self.project, fn, self.extra_sinks).walk()
        return self._facts[fn.id]

    def findings(self) -> list[Finding]:
        """One finding per rule and site, by its shortest path; the rules chosen by
        ``select`` / ``ignore`` and not silenced on the site's line."""
        found = [f for f in self.leaks(self.entries()) + self.handed_over() if self.wanted(f)]
        found.sort(key=lambda f: (len(f.path), -len(f.site.name), f.entry.file, f.entry.line))
        unique: dict[tuple[str, str, int], Finding] = {}
        for finding in found:
            unique.setdefault((finding.code, finding.site.file, finding.site.line), finding)
        return list(unique.values())

    def wanted(self, finding: Finding) -> bool:
        if not self.config.chooses(finding.code):
            return False
        module = self.project.by_display.get(finding.site.file)
        silenced = module.ignored.get(finding.site.line) if module else None
        return silenced is None or (bool(silenced) and finding.code not in silenced)

    def all_facts(self) -> list[tuple[Function, Facts]]:
        """Every function read, lambdas handed to starters included (reading a function
        can find a lambda in it: read until nothing new turns up)."""
        done: dict[str, Facts] = {}
        while len(done) < len(self.project.functions):
            for fn in list(self.project.functions.values()):
                if fn.id not in done:
                    done[fn.id] = self.facts(fn)
        return [(self.project.functions[i], facts) for i, facts in done.items()]

    # -- the ways out of the request ------------------------------------------------------

    def entries(self) -> list[Entry]:
        entries: dict[tuple[str, str], Entry] = {}

        def add(kind: names.Kind | None, fn: Function | None) -> None:
            if kind is None or fn is None:
                return
            decorated = self._task_kind(fn)
            if decorated is not None and decorated.copied:  # it takes the request context
                kind = decorated  # wherever it is started
            entries.setdefault((fn.id, kind.label), Entry(kind, fn))

        for module in self.project.modules.values():
            self.project.module_code(module)  # top-level statements may start threads too
        for fn, facts in self.all_facts():
            for spawn in facts.spawns:
                if not spawn.sent:
                    add(spawn.kind, spawn.target)
            add(self._task_kind(fn), fn)
        for cls in self.project.classes.values():
            kind = self._thread_class(cls)
            if kind is not None:
                add(kind, self.project.method(cls, "run"))
        for kind, fn in self._forwarded():
            add(kind, fn)
        for configured in self.configured:
            add(names.CONFIGURED, self.project.functions.get(configured))
        return list(entries.values())

    def _forwarded(self) -> list[tuple[names.Kind, Function]]:
        """What callers hand to a project function that passes its parameter on to a
        starter (``enqueue_job(export, ...)`` where ``enqueue_job`` enqueues its ``func``),
        followed through wrappers of wrappers."""
        forwards = {fn.id: list(f.forwards) for fn, f in self.all_facts() if f.forwards}
        found: list[tuple[names.Kind, Function]] = []
        changed = True
        while changed:
            changed = False
            for caller, caller_facts in self.all_facts():
                for call in caller_facts.calls:
                    for kind, param in forwards.get(call.target.id, ()):
                        argument = _argument(call, param)
                        if argument is None:
                            continue
                        if isinstance(argument, ast.Name) and argument.id in parameter_names(
                            caller.node
                        ):  # passed on again: the caller is a wrapper too
                            if (kind, argument.id) not in forwards.setdefault(caller.id, []):
                                forwards[caller.id].append((kind, argument.id))
                                changed = True
                            continue
                        walker = Walker(self.project, caller, self.extra_sinks)
                        target = walker.target_function(argument)
                        if isinstance(target, Function) and (kind, target) not in found:
                            found.append((kind, target))
        return found

    def _task_kind(self, fn: Function) -> names.Kind | None:
        """How ``fn``'s decorators run it outside the request, if they do."""
        node = fn.node
        if isinstance(node, (ast.Lambda, ast.Module)):
            return None
        for decorator in node.decorator_list:
            called = decorator.func if isinstance(decorator, ast.Call) else decorator
            kind = self._decorator_kind(fn.module, called, fn.parent)
            if kind is names.HANDOFF and _keyword_true(decorator, "request_context"):
                kind = names.HANDOFF_REPLAY
            elif kind is names.TASK and _keyword_true(decorator, "request_context"):
                kind = names.TASK_REPLAY  # the project's task class pushes a request
            if kind is not None:
                return kind
        return None

    def _decorator_kind(
        self, module: Module, called: ast.expr, scope: Function | None, depth: int = 0
    ) -> names.Kind | None:
        """The kind of task ``@called`` makes: a known decorator, a class derived from one
        (rq's ``job``), ``x.task`` of an app made out of sight, or a project decorator
        whose body applies one of these or starts a thread (followed two levels deep)."""
        resolved = self.project.expression(module, called, scope)
        configured = resolved.id if isinstance(resolved, Function) else None
        if isinstance(resolved, External):
            configured = resolved.path
        if configured in self.config.task_decorators:
            return names.CONFIGURED
        if isinstance(resolved, Function) and resolved.id in names.DEFINED_HERE:
            resolved = External(names.DEFINED_HERE[resolved.id])
        if isinstance(resolved, External):
            if resolved.path in names.TASK_DECORATORS:
                return names.TASK_DECORATORS[resolved.path]
            if resolved.path.endswith("().task") and resolved.path.startswith("celery"):
                return names.CELERY
        if (
            isinstance(called, ast.Attribute)
            and called.attr in names.TASK_METHODS
            and (
                resolved is None  # an app made out of sight
                # a method of an outside object (``huey.RedisHuey().task``), not a module's
                # function of that name (``locust.task`` marks a load test's step)
                or (isinstance(resolved, External) and resolved.path.endswith("().task"))
            )
        ):
            return names.TASK
        if isinstance(resolved, ClassInfo):
            for klass in self.project.mro(resolved):
                for base in self.project.bases(klass):
                    if isinstance(base, External) and base.path in names.TASK_DECORATORS:
                        return names.TASK_DECORATORS[base.path]
        if isinstance(resolved, Function) and depth < 2:
            return self._wrapper_kind(resolved, depth)
        return None

    def _wrapper_kind(self, decorator: Function, depth: int) -> names.Kind | None:
        """A project decorator that makes a task or starts a thread around the function."""
        if decorator.id in self._wrappers:
            return self._wrappers[decorator.id]
        self._wrappers[decorator.id] = None  # a decorator that uses itself
        kind: names.Kind | None = None
        for node in ast.walk(decorator.node):
            if isinstance(node, ast.Call):
                kind = self._decorator_kind(decorator.module, node.func, decorator, depth + 1)
                if kind is None:
                    started = self.project.expression(decorator.module, node.func, decorator)
                    if isinstance(started, External) and started.path in names.STARTERS:
                        kind = names.STARTERS[started.path][0]
                if kind is not None and not kind.copied:
                    break
                kind = None
        self._wrappers[decorator.id] = kind
        return kind

    def _thread_class(self, cls: ClassInfo) -> names.Kind | None:
        for klass in self.project.mro(cls):
            for base in self.project.bases(klass):
                if isinstance(base, External) and base.path in names.THREAD_CLASSES:
                    return names.THREAD_CLASSES[base.path]
        return None

    # -- following them -------------------------------------------------------------------

    def leaks(self, entries: list[Entry]) -> list[Finding]:
        """Every read that needs the request, reached from an entry, by its shortest path.

        Searched backwards, once from each function holding such reads, through its
        callers: a search forwards from each entry would walk the same helpers again for
        every entry that reaches them (time growing with the square of the project).
        A call made inside the caller's own ``with app.app_context():`` does not carry a
        read of ``g`` back (that ``g`` is the caller's own).
        """
        callers: dict[str, list[tuple[Function, Call]]] = defaultdict(list)
        holders: list[tuple[Function, list[Sink]]] = []
        for fn, facts in self.all_facts():
            for call in facts.calls:
                callers[call.target.id].append((fn, call))
            if facts.sinks:
                holders.append((fn, facts.sinks))
        for sender, receiver, call in self.signal_calls():
            callers[receiver.id].append((sender, call))
        for callback in self.library_callbacks():  # the library calls it from anywhere
            callers[callback.id] += [
                (e.function, Call(callback, e.function.line, LIBRARY)) for e in entries
            ]
        entries_of: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            entries_of[entry.function.id].append(entry)
        found: list[Finding] = []
        for holder, all_sinks in holders:
            groups: dict[tuple[bool, Conditions], list[Sink]] = defaultdict(list)
            for sink in all_sinks:
                groups[(sink.proxy in names.APP_CONTEXT_PROXIES, sink.when)].append(sink)
            for (app_bound, when), sinks in groups.items():
                cut = IN_APP_CONTEXT if app_bound else ""
                found += self._reached(holder, sinks, callers, entries_of, cut, when)
        return found

    def _reached(
        self,
        holder: Function,
        sinks: list[Sink],
        callers: dict[str, list[tuple[Function, Call]]],
        entries_of: dict[str, list[Entry]],
        cut: str,
        when: Conditions,
    ) -> list[Finding]:
        """The entries that reach ``sinks`` in ``holder``: not through a call made the
        ``cut`` way, nor through a call that gives a parameter the reads need one way
        (``when``) the other; a parameter passed on carries the need to the caller."""
        start = (holder.id, when)
        toward: dict[tuple[str, Conditions], tuple[Function, str, Conditions] | None] = {
            start: None
        }
        functions = {holder.id: holder}
        queue = deque([start])
        while queue:
            fn_id, needs = queue.popleft()
            fn = functions[fn_id]
            for caller, call in callers[fn_id]:
                if cut and call.how == cut:
                    continue
                caller_needs = _through(needs, call)
                if caller_needs is None:
                    continue  # the call makes the reads impossible
                state = (caller.id, caller_needs)
                if state not in toward:
                    toward[state] = (fn, call.how, needs)
                    functions[caller.id] = caller
                    queue.append(state)
        found: list[Finding] = []
        seen_entries: set[str] = set()
        for fn_id, needs in toward:
            if fn_id in seen_entries:
                continue
            for entry in entries_of.get(fn_id, ()):
                seen_entries.add(fn_id)
                steps = self._walk_back(functions[fn_id], needs, toward)
                path = [self._step(fn, how) for fn, how in steps]
                stored = self._g_stored([fn for fn, _ in steps])
                found += [
                    finding_class(sink, entry.kind)(
                        entry.kind, (*path, self._sink_step(holder, sink)), sink.body
                    )
                    for sink in sinks
                    if _matters(sink, entry.kind) and not _set_before(sink, stored)
                ]
        return found

    @staticmethod
    def _walk_back(
        start: Function,
        needs: Conditions,
        toward: dict[tuple[str, Conditions], tuple[Function, str, Conditions] | None],
    ) -> list[tuple[Function, str]]:
        """The functions from an entry to the holder, each with how it was called."""
        steps: list[tuple[Function, str]] = [(start, "")]
        step = toward[(start.id, needs)]
        while step is not None:
            fn, how, needs = step
            steps.append((fn, how))
            step = toward[(fn.id, needs)]
        return steps

    @staticmethod
    def _step(fn: Function, how: str) -> Step:
        return Step(fn.module.display, fn.line, _shown(fn) + EDGE_NOTES.get(how, ""))

    def _g_stored(self, functions: list[Function]) -> set[str | None]:
        """What the functions on a path set on ``g`` (``g.login = login`` in a task):
        read back further down, it is the job's own value."""
        stored: set[str | None] = set()
        for fn in functions:
            stored |= self.facts(fn).g_stores
        return stored

    def signal_calls(self) -> list[tuple[Function, Function, Call]]:
        """Each ``sig.send(...)`` as a call of every receiver connected to ``sig``
        (``@sig.connect``, ``@sig.connect_via(x)``, ``sig.connect(f)``)."""
        receivers: dict[SignalRef, list[Function]] = defaultdict(list)
        for fn, facts in self.all_facts():
            for signal, receiver in facts.connects:
                receivers[signal].append(receiver)
            node = fn.node
            if isinstance(node, (ast.Lambda, ast.Module)):
                continue
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(called, ast.Attribute) and called.attr in names.SIGNAL_CONNECTS:
                    sent_by = self.project.expression(fn.module, called.value, fn.parent)
                    if isinstance(sent_by, SignalRef):
                        receivers[sent_by].append(fn)
        calls: list[tuple[Function, Function, Call]] = []
        for fn, facts in self.all_facts():
            for signal, line, how in facts.sends:
                calls += [(fn, r, Call(r, line, how or SIGNAL)) for r in receivers.get(signal, ())]
        return calls

    def library_callbacks(self) -> list[Function]:
        """Methods of project classes that a library calls on its own (a SQLAlchemy
        ``Session`` subclass's ``get_bind`` on every query, a logging filter on every
        record): they run wherever the library is used, background code included."""
        table: dict[str, set[str]] = defaultdict(set)
        for base_path, methods_of in names.CALLBACKS.items():
            table[base_path].update(methods_of)
        for configured in self.config.library_callbacks:
            base_path, _, method = configured.partition(":")
            table[base_path].add(method)
        found: list[Function] = []
        for cls in self.project.classes.values():
            methods: set[str] = set()
            for klass in self.project.mro(cls):
                for base in self.project.bases(klass):
                    if isinstance(base, External):
                        methods.update(table.get(base.path, ()))
            found += [cls.methods[m] for m in sorted(methods) if m in cls.methods]
        return found

    @staticmethod
    def _sink_step(fn: Function, sink: Sink) -> Step:
        return Step(fn.module.display, sink.line, sink.text)

    def handed_over(self) -> list[Finding]:
        found: list[Finding] = []
        for fn in list(self.project.functions.values()):
            for spawn in self.facts(fn).spawns:
                if spawn.kind.copied:
                    continue
                for proxy in spawn.handed:
                    target = _shown(spawn.target) if spawn.target else "?"
                    path = (
                        Step(fn.module.display, fn.line, _shown(fn)),
                        Step(fn.module.display, spawn.line, f"{proxy} passed to {target}"),
                    )
                    found.append(ProxyHandedOver(spawn.kind, path))
        return found


#: How a step on a path was reached, where it is not a plain call.
EDGE_NOTES = {
    LIBRARY: " (called by the library)",
    BY_NAME: " (by method name)",
    SIGNAL: " (signal receiver)",
}


def _matters(sink: Sink, kind: names.Kind) -> bool:
    """Where the request context was copied or replayed, only its body is gone (and,
    under ``copy_current_request_context``, ``g``)."""
    if sink.proxy == "current_app":
        return kind.after_response
    if not kind.copied:
        return True
    return sink.body or (kind is names.COPIED and sink.proxy == "g")


def _through(needs: Conditions, call: Call) -> Conditions | None:
    """What the caller's parameters must be for ``needs`` (on the callee's) to hold
    through ``call``; None where the call rules it out."""
    binds = dict(call.binds)
    caller_needs = set(call.when)  # the caller's own conditions around the call
    for name, truth in needs:
        bound = binds.get(name)
        if isinstance(bound, bool):
            if bound != truth:
                return None
        elif isinstance(bound, str):
            caller_needs.add((bound, truth))
    if len({name for name, _ in caller_needs}) < len(caller_needs):
        return None  # a parameter needed both true and false
    return tuple(sorted(caller_needs))


def _set_before(sink: Sink, stored: set[str | None]) -> bool:
    """A read of ``g.x`` on a path that sets ``g.x`` (or sets a computed name, and reads
    one: ``setattr(g, key, ...)`` then ``getattr(g, key)``)."""
    attribute = _g_attribute(sink)
    return attribute is not None and (attribute in stored or (attribute == "*" and "*" in stored))


def _g_attribute(sink: Sink) -> str | None:
    """``user`` for a read of ``g.user``; None for any other read."""
    if sink.proxy != "g" or not sink.text.startswith("g."):
        return None
    return sink.text[2:].split(".")[0]  # "*": a name the code computes


def finding_class(sink: Sink, kind: names.Kind) -> type[ContextLeak]:
    """The rule a read breaks, by what it reads and where it runs."""
    if kind is names.COPIED and sink.proxy == "g":
        return GlobalsInCopiedContext
    if kind.after_response:
        return ReadAfterResponse
    if sink.text == "url_for()":
        return UrlForOutsideRequest
    return ContextLeak


def _argument(call: Call, param: str) -> ast.expr | None:
    """The expression a call passes as the target's parameter ``param``."""
    node = call.node
    if node is None:
        return None
    for keyword in node.keywords:
        if keyword.arg == param:
            return keyword.value
    positional = positional_parameters(node, call.target)
    if param in positional and positional.index(param) < len(node.args):
        found = node.args[positional.index(param)]
        return None if isinstance(found, ast.Starred) else found
    return None


def _keyword_true(decorator: ast.expr, name: str) -> bool:
    return isinstance(decorator, ast.Call) and any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in decorator.keywords
    )


def _shown(fn: Function) -> str:
    return fn.module.name.rsplit(".", 1)[-1] if fn.qualname == "<module>" else fn.qualname


__all__ = ["Analysis", "CheckConfigError", "Result", "check", "find_files", "read_project"]
