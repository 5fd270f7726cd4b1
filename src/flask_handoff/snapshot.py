"""The small, immutable record of "who asked, and from which request" taken at submit time.

A job never sees the live request: the response is long gone when it runs, and on Celery it
runs in another process. What it may need is copied here while the request is still alive,
kept JSON-safe and a few KB at most, so it can be stored with the job and sent in a message.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from flask import g, has_request_context, request

from .errors import JobArgumentError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

ActorKind = Literal["user", "system", "anonymous"]

#: Headers that hold credentials: replayed only from the encrypted secrets, never stored plain.
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


@dataclass(frozen=True)
class Snapshot:
    """What a job knows of the request that submitted it.

    ``identity`` is the submitter as the identity loader returned it (or the explicit or
    inherited one outside a request); ``actor`` says which of the three it is.
    """

    identity: Any = None
    actor: ActorKind = "system"
    request_id: str | None = None
    method: str | None = None
    path: str | None = None
    query_string: str | None = None
    base_url: str | None = None
    remote_addr: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    parent_job_id: str | None = None

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies every value, a third of submit's time.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> Snapshot:
        if not text:
            return cls()
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Capture:
    """Everything ``take`` needs from the extension, grouped so the hot path stays one call."""

    identity_loader: Callable[[], Any]
    captures: Mapping[str, Callable[[], Any]]
    request_id_header: str
    replay_headers: Iterable[str]
    system_identity: Any
    max_bytes: int


class Taken(NamedTuple):
    """A snapshot taken at submit: the snapshot, its JSON, and the credential headers to
    replay (stored encrypted, never in the JSON)."""

    snapshot: Snapshot
    json: str
    secret_headers: dict[str, str]


def take(
    capture: Capture,
    *,
    explicit_identity: Any = None,
    parent: Snapshot | None = None,
    parent_job_id: str | None = None,
    replay: bool = False,
) -> Taken:
    """Snapshot the current request (or its absence).

    Returns the snapshot, its JSON, and the credential headers to replay, which the caller
    must store encrypted. Identity precedence: the explicit argument, then the request's
    identity loader, then the parent job's identity, then the configured system actor.
    """
    in_request = has_request_context()
    identity: Any
    actor: ActorKind
    if explicit_identity is not None:
        identity, actor = explicit_identity, "user"
    elif in_request:
        identity = capture.identity_loader()
        actor = "user" if identity is not None else "anonymous"
    elif parent is not None:
        identity, actor = parent.identity, parent.actor
    else:
        identity, actor = capture.system_identity, "system"

    context = {name: fn() for name, fn in capture.captures.items()}
    sensitive: dict[str, str] = {}
    if in_request:
        headers: dict[str, str] = {}
        if replay:
            for name in capture.replay_headers:
                value = request.headers.get(name)
                if value is None:
                    continue
                if name.lower() in SENSITIVE_HEADERS:
                    sensitive[name] = value
                else:
                    headers[name] = value
        snapshot = Snapshot(
            identity=identity,
            actor=actor,
            request_id=_request_id(capture.request_id_header),
            method=request.method,
            path=request.path,
            query_string=request.query_string.decode("latin-1") or None,
            base_url=request.host_url,
            remote_addr=request.remote_addr,
            headers=headers,
            context=context,
            parent_job_id=parent_job_id,
        )
    else:
        snapshot = Snapshot(
            identity=identity,
            actor=actor,
            request_id=parent.request_id if parent else None,
            context=context if context or parent is None else dict(parent.context),
            parent_job_id=parent_job_id,
        )
    try:
        text = snapshot.to_json()
    except (TypeError, ValueError) as exc:
        raise JobArgumentError(
            f"The job snapshot is not JSON-safe: {exc}. Identity loaders and @handoff.capture"
            " functions must return JSON-safe values (str, int, float, bool, None, lists,"
            " dicts): capture an id, not an object."
        ) from exc
    if len(text.encode()) > capture.max_bytes:
        largest = max(context, key=lambda k: len(json.dumps(context[k], default=str)), default="")
        raise JobArgumentError(
            f"The job snapshot is {len(text.encode())} bytes, over HANDOFF_SNAPSHOT_MAX_BYTES"
            f" ({capture.max_bytes}). The largest captured value is {largest!r}: capture an"
            " id and load the data in the job, or pass large data as a file."
        )
    return Taken(snapshot, text, sensitive)


def _request_id(header: str) -> str:
    """Reuse the request id the app or the proxy already assigned, so logs line up."""
    existing = g.get("request_id")
    if existing:
        return str(existing)
    from_header = request.headers.get(header)
    if from_header:
        return from_header[:200]
    new = uuid.uuid4().hex
    g.request_id = new
    return new
