"""The member's pages: sign in and upload, one job, the account. Each page is drawn by
its script from the JSON API with the session cookie, so the pages and API clients see
exactly the same thing; the texts the scripts show come with the page, in the reader's
language (:mod:`.i18n`)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _

from . import charts
from .uploads import too_large

bp = Blueprint("web", __name__)


def _common() -> dict[str, str]:
    return {
        "cancel": _("Cancel"),
        "mail": _("Mail"),
        "download": _("Download"),
        "succeeded": _("succeeded"),
        "failed": _("failed"),
        "cancelled": _("cancelled"),
        "running": _("running"),
        "queued": _("queued"),
        "expired": _("expired"),
    }


@bp.get("/")
def index() -> str:
    strings: dict[str, str | int] = {
        **_common(),
        # Said before the file is sent: a server refuses a body over its limit, but a
        # browser still sending it may only see the connection close.
        "max_upload_bytes": current_app.config["MAX_CONTENT_LENGTH"] or 0,
        "file_too_large": too_large(_),
        "no_answer": _("The upload did not reach the service. Check the connection and try again."),
    }
    return render_template("index.html", strings=strings)


@bp.get("/account")
def account() -> str:
    """The member's API tokens: make, name and revoke them, see when each was used."""
    strings = {
        **_common(),
        "revoke": _("Revoke"),
        "revoked": _("revoked"),
        "passwords_differ": _("The two new passwords differ."),
        "password_changed": _("Password changed. Browsers signed out: %(n)s.", n="%(n)s"),
    }
    return render_template("account.html", strings=strings)


@bp.get("/jobs/<job_id>")
def job_page(job_id: str) -> str:
    """One job: live progress, then its counts, charts, downloads, mail and log. Whose
    job it is, the API decides when the page asks (a stranger's id shows "not found")."""
    strings = {
        **_common(),
        "rows": _("rows"),
        "rows_per_second": _("rows/s"),
        "left": _("left"),
        "polling": _("(polling)"),
        "mail_to": _("Mail to"),
        "rows_in": _("Rows read"),
        "rows_out": _("Rows exported"),
        "valid": _("Valid"),
        "invalid": _("Invalid"),
        "masked": _("Masked"),
        "duplicates": _("Duplicates"),
        # The charts' titles, as their images' text for who cannot see them.
        **{f"chart_{name}": _(title) for name, (_key, title) in charts.CHARTS.items()},
    }
    return render_template("job.html", job_id=job_id, strings=strings)
