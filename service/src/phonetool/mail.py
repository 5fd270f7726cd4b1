"""Send a result to its receiver: by SMTP when configured, else into the outbox folder."""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import current_app

_MIME = {
    ".csv": ("text", "csv"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def build_message(
    to: str, subject: str, body: str, attachments: list[Path] | None = None
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    for path in attachments or []:
        maintype, subtype = _MIME.get(path.suffix, ("application", "octet-stream"))
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return msg


def send(msg: EmailMessage) -> str:
    """Deliver ``msg``; returns where it went. Raises on failure, for the job to retry."""
    c = current_app.config
    if not c.get("MAIL_SERVER"):
        outbox = Path(c["MAIL_OUTBOX"])
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9}.eml"
        # Written under another name, then renamed: whoever reads the outbox (a pickup
        # job, a person) sees a whole message or none, never one half written.
        partial = path.with_suffix(".part")
        partial.write_bytes(bytes(msg))
        os.replace(partial, path)
        return f"outbox {path.name}"
    smtp: Any
    if c["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(
            c["MAIL_SERVER"], c["MAIL_PORT"], timeout=30, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(c["MAIL_SERVER"], c["MAIL_PORT"], timeout=30)
    with smtp:
        if c["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if c.get("MAIL_USERNAME"):
            smtp.login(c["MAIL_USERNAME"], c["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)
    return f"smtp {c['MAIL_SERVER']}:{c['MAIL_PORT']}"
