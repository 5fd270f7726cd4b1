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
    def how(self) -> str:
        """How the first place on the path leaves the request."""
        return self.kind.label

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
class UrlForOutsideRequest(ContextLeak):
    """``url_for`` reached from background code: without a request it builds URLs only
    from ``SERVER_NAME``, and raises where that is not set."""

    code = "HO101"
    title = "url-for-outside-request"
    fix = (
        "set SERVER_NAME (and PREFERRED_URL_SCHEME) so url_for works in jobs, then ignore"
        " HO101; or build the URL at submit and pass it in"
    )


@dataclass(frozen=True)
class ReadAfterResponse(ContextLeak):
    """Code that runs after the response was sent (a streamed body's generator,
    ``call_on_close``) reads the request or the app context, both gone by then."""

    code = "HO300"
    title = "context-read-after-response"
    fix = (
        "wrap the generator in stream_with_context(...), or read what it needs before"
        " returning the response and pass it in"
    )

    @property
    def reason(self) -> str:
        if self.site.name.startswith("current_app"):
            return f"(no application context {self.kind.where})"
        return super().reason


@dataclass(frozen=True)
class GlobalsInCopiedContext(ContextLeak):
    """``g`` in a function wrapped in ``copy_current_request_context``: the copy pushes a
    new application context, so ``g`` there is a new, empty one (Flask 2.2 and later)."""

    code = "HO301"
    title = "g-in-copied-context"
    fix = "pass the values from g in as arguments; g does not travel with the request context"

    @property
    def reason(self) -> str:
        return f"(a new, empty g {self.kind.where})"


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

    @property
    def how(self) -> str:
        """The path starts in the code that hands the proxy over, not in the target."""
        return f"hands a proxy to a {self.kind.label}"


KINDS: tuple[type[Finding], ...] = (
    ContextLeak,
    UrlForOutsideRequest,
    ProxyHandedOver,
    ReadAfterResponse,
    GlobalsInCopiedContext,
)
CODES = {kind.code: kind for kind in KINDS}
