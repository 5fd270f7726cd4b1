"""Hostile and long file names: cleaned at upload, shortened where they become paths and
headers, and the whole round trip (result, download, mail) works."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_handoff.testing import wait_for_job
from phonetool.filenames import clean_name, shorten_bytes

from .conftest import MemberHandle
from .live import multipart
from .test_service import GOOD


def send(client: FlaskClient, who: MemberHandle, name: str, **form: str) -> object:
    body, content_type = multipart({"file": (name, GOOD), **form})
    return client.post("/api/uploads", data=body, content_type=content_type, headers=who.headers)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("x\r\nBcc: evil@example.com.csv", "xBcc: evil@example.com.csv"),
        ("订单\x00.csv", "订单.csv"),
        ("C:\\Users\\me\\订单.csv", "订单.csv"),
        ("report\u202egpj.csv", "reportgpj.csv"),  # a right-to-left override hides nothing
        ("  two\t spaces .csv", "two spaces .csv"),
    ],
)
def test_names_lose_folders_and_control_characters(sent: str, kept: str) -> None:
    assert clean_name(sent) == kept


def test_a_long_name_keeps_its_extension_and_a_short_stem_keeps_whole_characters() -> None:
    name = clean_name("订" * 300 + ".xlsx")
    assert len(name) == 255
    assert name.endswith("订.xlsx")
    assert shorten_bytes("订单", 4) == "订"  # 3 bytes a character: never half of one


def test_a_name_of_nothing_but_control_characters_is_refused(
    client: FlaskClient, member: MemberHandle
) -> None:
    response = send(client, member, "\x00\r\n\x07")

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.get_json()["error"] == "bad_file_name"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name",
    ["x\r\nBcc: evil@example.com\r\n.csv", "订单导出" * 75 + ".csv", "a\x00b.csv"],
    ids=["crlf", "300-chinese-characters", "nul"],
)
def test_hostile_and_long_names_work_end_to_end(
    app: Flask, client: FlaskClient, member: MemberHandle, name: str
) -> None:
    response = send(client, member, name, receiver_email="shop@example.com")
    assert response.status_code == 202  # type: ignore[attr-defined]
    job_id = response.get_json()["job_id"]  # type: ignore[attr-defined]

    assert wait_for_job(app, job_id).state == "succeeded"
    download = client.get(f"/api/jobs/{job_id}/result?format=csv", headers=member.headers)
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert not {"\r", "\n"} & set(disposition)
    assert download.data.decode("utf-8-sig").startswith("订单号,收件人电话")

    mail_job = _mail_job(app, job_id)
    assert wait_for_job(app, mail_job).state == "succeeded"
    status = client.get(f"/api/jobs/{job_id}", headers=member.headers).get_json()
    assert status["mail"]["state"] == "sent"
    outbox = list(Path(app.config["MAIL_OUTBOX"]).glob("*.eml"))
    message = email.message_from_bytes(outbox[0].read_bytes(), policy=email.policy.default)
    assert message["Bcc"] is None  # the name did not become a header
    assert "\n" not in str(message["Subject"])
    attached = [p.get_filename() for p in message.iter_attachments()]  # type: ignore[attr-defined]
    assert sorted(a.rsplit("-checked.", 1)[1] for a in attached) == ["csv", "xlsx"]
    for name_in_path in Path(app.config["PHONETOOL_RESULTS_DIR"], job_id).iterdir():
        assert len(name_in_path.name.encode()) < 255


def _mail_job(app: Flask, upload_id: str) -> str:
    from phonetool.extensions import handoff
    from phonetool.jobs import deliver_result

    with app.app_context():
        jobs = [j for j in handoff.list_jobs() if j.task == deliver_result.name]
    assert len(jobs) == 1
    return jobs[0].id
