"""Results reach the receiver: a real SMTP server, an outage, the outbox fallback."""

from __future__ import annotations

import email
import io
import time
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import openpyxl
from flask import Flask
from flask.testing import FlaskClient

from flask_handoff.testing import wait_for_job
from tests.conftest import free_port

from .conftest import AppFactory, MemberHandle, add_member
from .test_service import GOOD, trail, upload, wait_for_trail


def _mail_status(client: FlaskClient, who: MemberHandle, job_id: str) -> dict[str, Any]:
    return client.get(f"/api/jobs/{job_id}", headers=who.headers).get_json()["mail"]


def _wait(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_receiver_gets_the_result_attached_by_smtp(make_app: AppFactory, smtp: Any) -> None:
    port = free_port()
    inbox = smtp(port)
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    who = add_member(app, "alice@example.com")
    client = app.test_client()

    job_id = upload(client, who, receiver_email="boss@example.com").get_json()["job_id"]
    wait_for_job(app, job_id)
    _wait(lambda: inbox.messages)

    msg = inbox.messages[0]
    assert msg["To"] == "boss@example.com"
    assert "订单.csv" in msg["Subject"]
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert names == ["订单-checked.xlsx", "订单-checked.csv"]
    xlsx = next(msg.iter_attachments()).get_content()
    assert openpyxl.load_workbook(io.BytesIO(xlsx))["data"]["C2"].value == "+8613812345678"
    _wait(lambda: _mail_status(client, who, job_id)["state"] == "sent")


def test_smtp_outage_keeps_the_result_retries_and_delivers_later(
    make_app: AppFactory, smtp: Any
) -> None:
    port = free_port()  # nothing listens here yet
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, HANDOFF_RETRY_BACKOFF=0.3)
    who = add_member(app, "alice@example.com")
    client = app.test_client()

    job_id = upload(client, who, receiver_email="boss@example.com").get_json()["job_id"]
    job = wait_for_job(app, job_id)
    _wait(lambda: _mail_status(client, who, job_id)["state"] == "retrying")

    assert job.state == "succeeded"  # the outage does not fail the job
    status = _mail_status(client, who, job_id)
    assert "ConnectionRefusedError" in status["error"]
    assert client.get(f"/api/jobs/{job_id}/result", headers=who.headers).status_code == 200

    inbox = smtp(port)  # the mail server comes back
    _wait(lambda: _mail_status(client, who, job_id)["state"] == "sent")
    assert len(inbox.messages) == 1
    kinds = [e["operation_type"] for e in trail(client, who)]
    assert "mail_retrying" in kinds
    assert kinds[-1] == "mail_sent" or "mail_sent" in kinds


def test_large_results_are_linked_not_attached(make_app: AppFactory, smtp: Any) -> None:
    port = free_port()
    inbox = smtp(port)
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, PHONETOOL_ATTACH_LIMIT_MB=0)
    who = add_member(app, "alice@example.com")
    job_id = upload(app.test_client(), who, receiver_email="boss@example.com").get_json()["job_id"]
    _wait(lambda: inbox.messages)

    msg = inbox.messages[0]
    assert list(msg.iter_attachments()) == []
    assert f"/api/jobs/{job_id}/result?format=xlsx" in msg.get_body().get_content()


def test_without_smtp_mail_goes_to_the_outbox_folder(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member, GOOD, receiver_email="boss@example.com").get_json()["job_id"]
    wait_for_job(app, job_id)
    outbox = Path(app.config["MAIL_OUTBOX"])
    # A message appears whole (was read half written once, in a parallel run).
    _wait(lambda: outbox.exists() and any(outbox.glob("*.eml")))

    msg = email.message_from_bytes(next(outbox.glob("*.eml")).read_bytes(), policy=default_policy)
    assert msg["To"] == "boss@example.com"
    assert len(list(msg.iter_attachments())) == 2  # type: ignore[attr-defined]


def test_a_mail_job_run_again_after_its_mail_went_out_sends_no_second_mail(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    """A worker that dies after the mail is sent and recorded, before the job's outcome is
    written, gets the job back when its lease runs out: that run must not mail again (seen
    once in the faults test: two mails for one upload)."""
    from phonetool.jobs import ALREADY_SENT, deliver_result

    job_id = upload(client, member, GOOD, receiver_email="boss@example.com").get_json()["job_id"]
    wait_for_job(app, job_id)
    wait_for_trail(client, member, "mail_sent")

    with app.test_request_context():
        again = deliver_result.submit(job_id, identity=member.id)
    rerun = wait_for_job(app, again.id)

    assert rerun.state == "succeeded"
    assert rerun.result == ALREADY_SENT
    assert len(list(Path(app.config["MAIL_OUTBOX"]).glob("*.eml"))) == 1
    assert [e["operation_type"] for e in trail(client, member)].count("mail_sent") == 1


def test_an_address_with_a_domain_in_chinese_is_sent_as_punycode(
    make_app: AppFactory, smtp: Any
) -> None:
    """Was sent as ``=?utf-8?b?…?=@=?utf-8?b?…?=``, which no server delivers."""
    port = free_port()
    inbox = smtp(port)
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    who = add_member(app, "alice@example.com")
    client = app.test_client()

    job_id = upload(client, who, receiver_email="shop@例子.广告").get_json()["job_id"]
    wait_for_job(app, job_id)
    wait_for_trail(client, who, "mail_sent", timeout=60)  # sent, then logged

    assert inbox.messages[0]["To"] == "shop@xn--fsqu00a.xn--4rr70v"
    status = client.get(f"/api/jobs/{job_id}", headers=who.headers).get_json()
    assert status["mail"]["to"] == "shop@xn--fsqu00a.xn--4rr70v"
