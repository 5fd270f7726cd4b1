"""The kinds of finding, each with its message and its fix (one class per kind, as in
pyflakes' ``messages.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from .names import Kind  # noqa: TC001 (a dataclass field's type)


@dataclass(frozen=True)
class Step:
    """A place on a path: a function (``name``) or the read that needs the request."""

    file: str
    line: int
    name: str


@dataclass(frozen=True)
class Finding:
    code = ""
    title = ""
    fix = ""

    kind: Kind
    path: tuple[Step, ...]  # from where the code leaves the request to the read

    @property
    def entry(self) -> Step:
        return self.path[0]

    @property
    def site(self) -> Step:
        """Where it goes wrong: the read, or the call that hands the proxy over."""
        return self.path[-1]

    @property
    def reason(self) -> str:
        raise NotImplementedError

    @property
    def message(self) -> str:
        return f"{self.site.name} {self.reason}"


@dataclass(frozen=True)
class ContextLeak(Finding):
    """Background code reaches something that needs the request, which is gone there."""

    code = "HO100"
    title = "request-context-leak"
    fix = "capture it at submit (identity(), @handoff.capture) or pass it in as an argument"
    body: bool = False

    @property
    def reason(self) -> str:
        if self.kind.copied:
            return f"(the request's body is closed {self.kind.where})"
        return f"(no request context {self.kind.where})"


@dataclass(frozen=True)
class ProxyHandedOver(Finding):
    """A request proxy passed as an argument: its reads in the background fail the same
    way, since the proxy points at whatever request is current there (none)."""

    code = "HO200"
    title = "request-proxy-handed-over"
    fix = "pass the values the job needs (request.form['x'], identity()), not the proxy"

    @property
    def reason(self) -> str:
        return f"(a proxy to the request, read {self.kind.where}, where there is none)"


KINDS: tuple[type[Finding], ...] = (ContextLeak, ProxyHandedOver)
