"""Languages: the pages, the operation log and the mail in Chinese or English, through
gettext catalogs (Flask-Babel).

The reader's language is the one they chose on the page (``?lang=``, kept in a cookie),
else the best of their browser's ``Accept-Language``, else Chinese, the language of the
shops the service is for. The source texts are English; ``translations/zh`` holds the
Chinese. A job writes its log and mail in the language of the request that submitted it:
captured at submit (``handoff.capture``), since the job has no request to ask.

The catalogs are compiled from their ``.po`` files when the app starts, into the instance
folder, so a change to a ``.po`` needs no build step and no compiled file is kept beside
its source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import has_request_context, request
from flask_babel import Babel, force_locale, get_locale, gettext

if TYPE_CHECKING:
    from flask import Flask, Response

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
SOURCE = Path(__file__).parent / "translations"

babel = Babel()


def _readers_choice() -> str | None:
    """``?lang=``, else the cookie, else the best of ``Accept-Language``; None if none."""
    if not has_request_context():
        return None
    chosen = request.args.get("lang") or request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES)


def select_locale() -> str:
    return _readers_choice() or DEFAULT


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT


def message_language() -> str:
    """The language of an API answer's ``message``: the reader's choice (``?lang=``, the
    cookie, ``Accept-Language``); else, for a request from our own pages, theirs (Chinese),
    so a page shows its errors in the language it is drawn in; else English, what API
    clients have always read. Browsers mark a page's own requests ``Sec-Fetch-Site:
    same-origin``; scripts send no such header."""
    chosen = _readers_choice()
    if chosen is not None:
        return chosen
    from_our_pages = (
        has_request_context() and request.headers.get("Sec-Fetch-Site") == "same-origin"
    )
    return DEFAULT if from_our_pages else "en"


def say(message: str, **params: Any) -> str:
    """``message`` (English, with ``%(name)s`` fields) in the language of the answer."""
    with force_locale(message_language()):
        return str(gettext(message, **params))


def remember_choice(response: Response) -> Response:
    """``?lang=en`` on a page keeps English for the next pages (a year)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def supported_language(language: object) -> str:
    """``language`` if the service speaks it, else Chinese (a job captured before
    languages, or a value nobody checked)."""
    return language if isinstance(language, str) and language in LANGUAGES else DEFAULT


def in_language(language: object) -> Any:
    """A block whose texts are in ``language`` (a job writing for its submitter)."""
    return force_locale(supported_language(language))


def compile_catalogs(target: Path) -> Path:
    """Each ``translations/<lang>/LC_MESSAGES/messages.po`` as ``.mo`` under ``target``."""
    for po_path in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        mo_path = target / po_path.relative_to(SOURCE).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po:
            catalog = read_po(po)
        partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.part")  # one per process
        with partial.open("wb") as mo:
            write_mo(mo, catalog)
        partial.replace(mo_path)  # whole or not at all: several processes may start at once
    return target


def init_app(app: Flask) -> None:
    compiled = compile_catalogs(Path(app.instance_path) / "translations")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(compiled))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    babel.init_app(app, locale_selector=select_locale)
    app.after_request(remember_choice)
    app.jinja_env.globals["current_language"] = current_language


def submitter_language() -> str | None:
    """What a job captures at submit: the submitter's language; a job submitted by a job
    (the mail after the processing) keeps its parent's."""
    from flask_handoff import current_job, has_job_context

    if has_request_context():
        return current_language()
    if has_job_context():
        language = current_job.context.get("language")
        return language if isinstance(language, str) else None
    return None


def job_language() -> Any:
    """The language a running job writes in, as captured (``in_language`` checks it)."""
    from flask_handoff import current_job

    return current_job.context.get("language")
