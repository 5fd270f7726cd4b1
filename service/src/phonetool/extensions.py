"""The app's Flask-Handoff instance, made once at import and set up by ``init_app`` in
the factory, as Flask extensions are: its tasks (``jobs``), the admission limits, the
retention command and the tests all reach it here."""

from __future__ import annotations

from flask_handoff import Handoff

from .i18n import submitter_language
from .passport import member_id_or_none

handoff = Handoff()
handoff.identity_loader(member_id_or_none)
handoff.capture("language")(submitter_language)
