"""A job's own page: its live event stream, its charts, its log entries, and the page
in a real browser (Chromium) following a 200,000-row upload to 100% by its events."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_handoff.testing import wait_for_job
from phonetool import charts

from .conftest import MemberHandle
from .files import write_csv
from .pages import sign_in
from .test_service import upload

# The pages in a browser: what the database is does not reach them (the API tests run on both).
pytestmark = pytest.mark.runs_on(database="sqlite")

SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[tuple[str, int]]:
    root = ET.fromstring(svg)
    return [
        (g.get("data-label") or "", int(g.get("data-value") or 0)) for g in root.iter(f"{SVG}g")
    ]


def test_a_chart_is_largest_first_and_escapes_every_label() -> None:
    svg = charts.bar_chart("<b>title</b>", [("A & <script>", 2), ("江苏省", 5)])
    ranked = charts.items_for("provinces", {"by_province": {"江苏省": 5, "广东省": 9, "x": 1}})

    assert _bars(svg) == [("A & <script>", 2), ("江苏省", 5)]  # parsed: the text was escaped
    assert "<script>" not in svg
    assert ranked == [("广东省", 9), ("江苏省", 5), ("x", 1)]


def test_more_categories_than_bars_end_in_other() -> None:
    counts = {f"reason {i}": 100 - i for i in range(60)}

    items = charts.items_for("invalid_reasons", {"invalid_reasons": counts})

    assert len(items) == charts.MAX_BARS
    assert items[-1] == ("other", sum(100 - i for i in range(charts.MAX_BARS - 1, 60)))


def test_events_stream_the_job_until_it_ends(
    app: Flask, client: FlaskClient, member: MemberHandle, other_member: MemberHandle
) -> None:
    job_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, job_id)

    response = client.get(f"/api/jobs/{job_id}/events", headers=member.headers)
    body = response.get_data(as_text=True)  # read before the next request: it streams
    stranger = client.get(f"/api/jobs/{job_id}/events", headers=other_member.headers)

    assert response.mimetype == "text/event-stream"
    assert body.startswith("event: status\ndata: {")
    assert '"state": "succeeded"' in body
    assert body.endswith("event: end\ndata: {}\n\n")
    assert stranger.status_code == 404


def test_charts_of_a_finished_job_and_its_own_log_entries(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    first = upload(client, member).get_json()["job_id"]
    second = upload(client, member).get_json()["job_id"]
    wait_for_job(app, first)
    wait_for_job(app, second)

    numbers = client.get(f"/api/jobs/{first}/charts/numbers.svg", headers=member.headers)
    missing = client.get(f"/api/jobs/{first}/charts/pie.svg", headers=member.headers)
    log = client.get(f"/api/operation-logs?job_id={first}", headers=member.headers).get_json()

    assert numbers.mimetype == "image/svg+xml"
    assert _bars(numbers.get_data(as_text=True)) == [("valid", 2), ("invalid", 1), ("masked", 0)]
    assert missing.status_code == 404
    assert "numbers, invalid_reasons" in missing.get_json()["message"]
    assert log["entries"]
    assert {e["job_id"] for e in log["entries"]} == {first}


def _shown(svg: str) -> tuple[str, list[str]]:
    """A chart's title and its bars' labels, as they are drawn."""
    root = ET.fromstring(svg)
    title = root.findtext(f"{SVG}title") or ""
    return title, [g.findtext(f"{SVG}text") or "" for g in root.iter(f"{SVG}g")]


@pytest.mark.parametrize(
    ("language", "numbers", "places"),
    [
        ("zh", ("号码", ["有效", "无效", "隐藏号码"]), ["广东省", "中国 (省份未知)"]),
        ("en", ("Numbers", ["valid", "invalid", "masked"]), ["广东省", "China, province unknown"]),
    ],
)
def test_a_chart_speaks_its_readers_language_and_keeps_the_summarys_keys(
    app: Flask,
    client: FlaskClient,
    member: MemberHandle,
    language: str,
    numbers: tuple[str, list[str]],
    places: list[str],
) -> None:
    rows = "订单号,手机号\nA1,13802212345\nA2,19912345678\nA3,+86 139\nA4,138****5678\n"
    job_id = upload(client, member, rows.encode(), "o.csv").get_json()["job_id"]
    wait_for_job(app, job_id)
    headers = {**member.headers, "Accept-Language": language}

    def chart(name: str) -> str:
        return client.get(f"/api/jobs/{job_id}/charts/{name}.svg", headers=headers).get_data(
            as_text=True
        )

    assert _shown(chart("numbers")) == numbers
    assert _bars(chart("numbers")) == [("valid", 2), ("invalid", 1), ("masked", 1)]
    assert _shown(chart("provinces"))[1] == places
    assert [key for key, _ in _bars(chart("provinces"))] == ["广东省", "CN"]


def test_a_label_too_long_for_its_room_is_cut_and_kept_whole_on_hover() -> None:
    name = "Some Very Long Carrier Name Holdings Limited"

    svg = charts.bar_chart("carriers", [(name, 3), ("中国移动", 2)])

    root = ET.fromstring(svg)
    bars = list(root.iter(f"{SVG}g"))
    assert bars[0].findtext(f"{SVG}text") == name[:27] + "…"
    assert bars[0].findtext(f"{SVG}title") == name  # the whole, on hover
    assert bars[1].findtext(f"{SVG}text") == "中国移动"
    assert bars[1].find(f"{SVG}title") is None


@pytest.mark.slow
def test_the_job_page_follows_a_200k_row_upload_to_100_percent_by_its_events(
    browser: Any,
    live_url: str,
    member: MemberHandle,
    tmp_path: Path,
) -> None:
    rows = [["订单号", "手机号"]] + [[f"A{i}", f"138{i:08d}"] for i in range(200_000)]
    source = write_csv(tmp_path / "大单.csv", rows)
    # bypass_csp: Playwright polls a waiting predicate with eval, which the page's policy
    # forbids (as it should: test_security holds the policy itself).
    page = browser.new_page(locale="zh-CN", bypass_csp=True)
    sign_in(page, live_url, member)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))

    page.set_input_files("#upload input[name=file]", str(source))
    page.click("#upload button")
    page.click("#jobs a.job-link")
    page.wait_for_selector("#transport[data-transport=sse]", state="attached")
    page.wait_for_selector("#rows:has-text('/ 200,000')", timeout=60_000)  # progress, live
    page.wait_for_selector("#percent:has-text('100%')", timeout=120_000)
    page.wait_for_selector("#state.state-succeeded")

    assert page.locator(".count-rows_in").inner_text() == "200,000"
    page.wait_for_function(
        "[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("img.chart").count() == len(charts.CHARTS)
    assert page.locator("a.download-xlsx").count() == 1
    # The log is fetched once the job ends, beside the charts: wait for it, not for them.
    page.wait_for_selector("#oplog li:has-text('处理完成 大单.csv')")
    job_urls = [u for u in seen if "/api/jobs/" in u and "/charts/" not in u]
    assert any(u.endswith("/events") for u in job_urls)
    assert not [u for u in job_urls if u.split("/api/jobs/")[1].count("/") == 0]  # no polling


def test_without_event_source_the_page_polls(
    browser: Any,
    live_url: str,
    member: MemberHandle,
    tmp_path: Path,
) -> None:
    source = write_csv(tmp_path / "o.csv", [["订单号", "手机号"], ["A1", "13812345678"]])
    page = browser.new_page()
    page.add_init_script("delete window.EventSource")
    sign_in(page, live_url, member)
    page.set_input_files("#upload input[name=file]", str(source))
    page.click("#upload button")
    page.click("#jobs a.job-link")

    page.wait_for_selector("#transport[data-transport=polling]", state="attached")
    page.wait_for_selector("#state.state-succeeded", timeout=30_000)
    assert page.locator(".count-valid").inner_text() == "1"


def test_a_job_page_of_someone_else_says_no_such_job(
    browser: Any,
    live_url: str,
    app: Flask,
    member: MemberHandle,
    other_member: MemberHandle,
    client: FlaskClient,
) -> None:
    job_id = upload(client, other_member).get_json()["job_id"]
    page = browser.new_page()
    sign_in(page, live_url, member)

    page.goto(f"{live_url}/jobs/{job_id}")

    page.wait_for_selector("#missing:not([hidden])")
    assert page.locator("#job").is_hidden()
