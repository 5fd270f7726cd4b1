"""What a browser is told and held to: same-origin state changes and protective headers.

The session cookie is SameSite=Lax, which older browsers and some paths (a top-level form
post within two minutes of sign-in, in some browsers) do not enforce. So every request
that changes state and is not carried by an API token must come from our own page: its
``Origin`` (or, where a browser sends none, its ``Referer``) names this service. A
request with neither is no browser's (curl, a script) and cannot ride a victim's cookie
from another site; it is let through. Sign-in is held to the same rule: a form on another
site must not sign a visitor in to an account of the attacker's (login CSRF).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, jsonify, request

if TYPE_CHECKING:
    from flask import Flask, Response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: The page loads its script and style from /static only, and is never framed.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    app.before_request(_same_origin_only)
    app.after_request(_protective_headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _same_origin_only() -> Response | None:
    if request.method in SAFE_METHODS or "Authorization" in request.headers:
        return None
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if sent is None:
        return None
    ours = {_origin(request.host_url), _origin(current_app.config["PHONETOOL_BASE_URL"])}
    if sent != "null" and _origin(sent) in ours:
        return None
    response = jsonify(
        error="cross_origin",
        message="This request came from another site's page; use this service's own page,"
        " or an API token.",
    )
    response.status_code = 403
    return response


def _protective_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
