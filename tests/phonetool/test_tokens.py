"""A member's API tokens: made (shown once), named, used, revoked; through the API and
on the account page in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from .conftest import MemberHandle
from .pages import sign_in


def test_a_token_is_shown_once_works_and_stops_when_revoked(
    client: FlaskClient, member: MemberHandle, other_member: MemberHandle
) -> None:
    made = client.post("/api/tokens", json={"name": "ERP 导入", "days": 30}, headers=member.headers)
    token = made.get_json()
    bearer = {"Authorization": f"Bearer {token['token']}"}

    assert made.status_code == 201
    assert token["token"].startswith("pt_")
    assert token["expires_at"] is not None
    assert client.get("/api/jobs", headers=bearer).status_code == 200
    listed = client.get("/api/tokens", headers=member.headers).get_json()["tokens"]
    mine = next(t for t in listed if t["id"] == token["id"])
    assert "token" not in mine  # never again
    assert mine["name"] == "ERP 导入"
    assert mine["last_used_at"] is not None  # the use just made, before it is written
    assert (
        client.delete(f"/api/tokens/{token['id']}", headers=other_member.headers).status_code == 404
    )
    assert client.delete(f"/api/tokens/{token['id']}", headers=member.headers).status_code == 204
    assert client.get("/api/jobs", headers=bearer).status_code == 401
    log = client.get("/api/operation-logs", headers=member.headers).get_json()["entries"]
    assert [e["operation_type"] for e in log[:2]] == ["token_revoked", "token_created"]


def test_bad_token_requests_say_what_to_send(client: FlaskClient, member: MemberHandle) -> None:
    def post(body: Any) -> Any:
        return client.post("/api/tokens", json=body, headers=member.headers)

    assert post({"name": ""}).get_json()["error"] == "bad_name"
    assert post({"name": "x" * 101}).get_json()["error"] == "bad_name"
    assert post({"name": "ok", "days": 0}).get_json()["error"] == "bad_days"
    assert post({"name": "ok", "days": True}).get_json()["error"] == "bad_days"
    assert post([1]).status_code == 400
    # A NUL in a name is refused in words (was a 500 on PostgreSQL, found by schemathesis).
    assert post({"name": "a\x00b"}).get_json()["error"] == "bad_name"
    # An id past the database's integers is simply not one of yours (was a 500 on PostgreSQL).
    assert client.delete("/api/tokens/22575917519", headers=member.headers).status_code == 404


@pytest.mark.runs_on(database="sqlite")  # a page in a browser: the database does not reach it
def test_the_account_page_makes_shows_once_and_revokes_a_token_and_changes_the_password(
    browser: Any,
    live_url: str,
    member: MemberHandle,
) -> None:
    page = browser.new_page()
    sign_in(page, live_url, member)
    page.click("#account-link")

    page.fill("#new-token input[name=name]", "ERP 导入")
    page.click("#new-token button")
    page.wait_for_selector("#new-token-shown:not([hidden])")
    plain = page.locator("#new-token-value").inner_text()
    assert plain.startswith("pt_")
    answer = page.request.get(live_url + "/api/jobs", headers={"Authorization": f"Bearer {plain}"})
    assert answer.status == 200

    page.reload()  # shown once: not on the page any more
    row = page.locator("#tokens tbody tr", has_text="ERP 导入")
    row.wait_for()
    assert plain not in page.content()
    assert row.locator(".token-used").inner_text() != "—"
    page.once("dialog", lambda d: d.accept())
    row.locator("button.revoke").click()
    page.wait_for_selector("#tokens tbody tr .revoked")
    answer = page.request.get(live_url + "/api/jobs", headers={"Authorization": f"Bearer {plain}"})
    assert answer.status == 401

    # The password, changed on the same page: refused while the two differ, then changed.
    form = "#new-password"
    page.fill(f"{form} input[name=current_password]", "correct horse")
    page.fill(f"{form} input[name=new_password]", "a much longer secret")
    page.fill(f"{form} input[name=repeat]", "a much longer secrex")
    page.click(f"{form} button")
    page.wait_for_selector("#password-error:not(:empty)")
    page.fill(f"{form} input[name=repeat]", "a much longer secret")
    page.click(f"{form} button")
    page.wait_for_selector("#password-changed:not([hidden])")
    signed_in = page.request.post(
        live_url + "/api/session",
        data={"email": member.email, "password": "a much longer secret"},
        headers={"Origin": live_url},
    )
    assert signed_in.status == 200
