"""The pages in a real browser: Debian's Chromium driven by Playwright, against the app
served on 127.0.0.1 (fixtures ``browser`` and ``live_url`` in conftest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conftest import MemberHandle

CHROMIUM = "/usr/bin/chromium"
# The flags this sandboxed machine needs: no setuid sandbox as root, and no background
# network traffic to hosts it cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sign_in(page: Any, live_url: str, member: MemberHandle) -> None:
    """Sign in on the main page, as a member does."""
    page.goto(live_url + "/")
    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", "correct horse")
    page.click("#sign-in button")
    page.wait_for_selector("#app:not([hidden])")
