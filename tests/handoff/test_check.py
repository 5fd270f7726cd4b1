"""``flask handoff check`` on small projects written for the tests: each leak found with
its chain, nothing else reported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from flask_handoff.check import CheckConfig, check

from .conftest import flask_command

ROOT = Path(__file__).resolve().parents[2]

SHOP = {
    "shop/__init__.py": "",
    "shop/accounts.py": """
        from flask import request

        class Accounts:
            @staticmethod
            def token():
                return request.cookies.get("token")

            def user_id(self):
                return Accounts.token()

        accounts = Accounts()
    """,
    "shop/audit.py": """
        from shop.accounts import accounts

        def write_audit(action):
            print(accounts.user_id(), action)
    """,
    "shop/reports/__init__.py": "",
    "shop/reports/builder.py": """
        from ..audit import write_audit

        class ReportBuilder:
            def run(self):
                write_audit("export")
    """,
    "shop/views/__init__.py": "",
    "shop/views/export.py": """
        import threading

        from shop.reports.builder import ReportBuilder

        def build_export():
            ReportBuilder().run()

        def export_view():
            threading.Thread(target=build_export).start()
            return "started", 202
    """,
}

ALIASES = {
    "shop/__init__.py": "",
    "shop/jobs.py": """
        from concurrent.futures import ThreadPoolExecutor
        from threading import Thread as Worker

        import shop.helpers as h
        from shop.helpers import tenant_of as tenant

        def notify(order_id):
            print(h.current_user(), order_id)

        def recalc():
            print(tenant())

        def start(order_id):
            Worker(target=lambda: notify(order_id)).start()
            with ThreadPoolExecutor() as pool:
                pool.submit(recalc)
    """,
    "shop/helpers.py": """
        import flask
        from flask import g as flask_g

        def current_user():
            return flask.session["user"]

        def tenant_of():
            return flask_g.tenant
    """,
}

TASKS = {
    "shop/__init__.py": "",
    "shop/tasks.py": """
        from celery import Celery, shared_task
        from flask import request
        from redis import Redis
        from rq import Queue

        celery_app = Celery("shop")
        queue = Queue(connection=Redis())

        @celery_app.task
        def send_report(report_id):
            return request.args["format"], report_id

        @shared_task(bind=True)
        def cleanup(self):
            return request.remote_addr

        def rebuild(report_id):
            return request.host, report_id

        def schedule(report_id):
            queue.enqueue(rebuild, report_id)
    """,
    "shop/worker.py": """
        import threading

        from flask_login import current_user

        class Mailer(threading.Thread):
            def run(self):
                self.send(current_user.email)

            def send(self, to):
                print(to)
    """,
}

# Each of these reads the request only where it is there: none may be reported.
SAFE = {
    "shop/__init__.py": "",
    "shop/safe.py": """
        import threading

        from flask import has_request_context, request, copy_current_request_context

        def guarded_user():
            if has_request_context():
                return request.headers.get("X-User")
            return None

        def early_return_user():
            if not has_request_context():
                return None
            return request.headers.get("X-User")

        def truthy_user():
            return request.headers.get("X-User") if request else None

        def tolerant_user():
            try:
                return request.headers["X-User"]
            except RuntimeError:
                return None

        def view_only_user():
            return request.headers.get("X-User")

        def silenced():
            return request.path  # handoff: ignore

        def background(kind, name):
            guarded_user()
            early_return_user()
            truthy_user()
            tolerant_user()
            silenced()
            getattr(threading, name)()  # dynamic: not resolved, not guessed

        def index():
            threading.Thread(target=background, args=("audit", "x")).start()
            return view_only_user()

        def upload():
            @copy_current_request_context
            def headers_only():
                return request.headers["X-User"]  # the copied context keeps these

            threading.Thread(target=headers_only).start()
    """,
}

LEAK_FIX = "capture it at submit (identity(), @handoff.capture) or pass it in as an argument"


def write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def paths(root: Path, *files: dict[str, str]) -> list[tuple[str, ...]]:
    for f in files:
        write(root, f)
    result = check([root / "shop"], CheckConfig(root=root))
    return [
        tuple(f"{s.file}:{s.line} {s.name}" for s in finding.path) for finding in result.findings
    ]


def test_the_original_chain_three_calls_deep_across_modules(project: Path) -> None:
    write(project, SHOP)
    result = check([project / "shop"], CheckConfig(root=project))

    assert len(result.findings) == 1
    finding = result.findings[0]
    assert [f"{s.file}:{s.line} {s.name}" for s in finding.path] == [
        "shop/views/export.py:5 build_export",
        "shop/reports/builder.py:4 ReportBuilder.run",
        "shop/audit.py:3 write_audit",
        "shop/accounts.py:8 Accounts.user_id",  # through the module-level instance
        "shop/accounts.py:5 Accounts.token",  # and the static method
        "shop/accounts.py:6 request.cookies",
    ]
    assert finding.kind.label == "thread target"
    assert finding.reason == "(no request context in a thread)"
    assert finding.fix == LEAK_FIX


def test_aliases_lambdas_and_pools(project: Path) -> None:
    found = paths(project, ALIASES)

    assert sorted(found) == sorted(
        [
            (
                "shop/jobs.py:14 start.<lambda:14>",
                "shop/jobs.py:7 notify",
                "shop/helpers.py:4 current_user",
                "shop/helpers.py:5 session",
            ),
            (
                "shop/jobs.py:10 recalc",
                "shop/helpers.py:7 tenant_of",
                "shop/helpers.py:8 g.tenant",
            ),
        ]
    )


def test_celery_rq_and_thread_subclasses(project: Path) -> None:
    write(project, TASKS)
    result = check([project / "shop"], CheckConfig(root=project))

    found = {(f.kind.label, f.path[0].name, f.site.name) for f in result.findings}
    assert found == {
        ("Celery task", "send_report", "request.args"),
        ("Celery task", "cleanup", "request.remote_addr"),
        ("RQ job", "rebuild", "request.host"),
        ("Thread subclass", "Mailer.run", "current_user.email"),
    }


def test_guarded_tolerant_view_only_ignored_and_dynamic_code_is_not_reported(
    project: Path,
) -> None:
    assert paths(project, SAFE) == []


def test_a_job_that_logs_its_failure_still_leaks(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/export.py": """
                import logging
                import threading

                from flask import request

                def export():
                    try:
                        return request.args["format"]
                    except Exception:  # logs the failure; the leak is still a bug
                        logging.exception("export failed")

                threading.Thread(target=export).start()
            """,
        },
    )

    assert paths(project) == [("shop/export.py:6 export", "shop/export.py:8 request.args")]


def test_a_copied_request_context_is_reported_only_for_the_body(project: Path) -> None:
    write(
        project,
        {
            "shop/upload.py": """
                import threading

                from flask import copy_current_request_context, request

                def upload():
                    @copy_current_request_context
                    def save():
                        return request.files["file"].read()

                    threading.Thread(target=save).start()
            """
        },
    )
    [finding] = check([project / "shop"], CheckConfig(root=project)).findings

    assert finding.site.name == "request.files"
    assert finding.kind.label == "copy_current_request_context"
    assert finding.reason == "(the request's body is closed after the response)"


def test_a_request_proxy_handed_to_a_thread_or_a_task_is_reported(project: Path) -> None:
    write(
        project,
        {
            "shop/handover.py": """
                from threading import Thread

                from celery import shared_task
                from flask import request

                def log(req):
                    print(req.form)

                @shared_task
                def report(req):
                    return 1

                def view():
                    Thread(target=log, args=(request,)).start()
                    report.delay(request)
            """
        },
    )
    result = check([project / "shop"], CheckConfig(root=project))

    assert sorted((f.code, f.site.line, f.site.name) for f in result.findings) == [
        ("HO200", 14, "request passed to log"),
        ("HO200", 15, "request passed to report"),
    ]


def test_handoff_tasks_and_replayed_requests(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/ext.py": """
                from flask_handoff import Handoff

                handoff = Handoff()
            """,
            "shop/jobs.py": """
                from flask import request

                from .ext import handoff

                @handoff.task
                def export():
                    return request.headers["Authorization"]

                @handoff.task(request_context=True)
                def legacy():
                    return request.headers["Authorization"], request.get_json()
            """,
        },
    )
    found = {(f.path[0].name, f.site.name, f.reason) for f in check([project / "shop"]).findings}

    assert found == {
        ("export", "request.headers", "(no request context in a Handoff job)"),
        ("legacy", "request.get_json", "(the request's body is closed in a Handoff job)"),
    }


def test_configuration_adds_sinks_and_entry_points_and_excludes_paths(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/tenant.py": """
                def current_tenant():
                    return TENANTS[0]  # reads a request-bound cache the checker cannot see
            """,
            "shop/nightly.py": """
                from legacy_queue import job
                from flask import session

                from .tenant import current_tenant

                def run():
                    return current_tenant()

                @job
                def purge():
                    return session["user"]
            """,
            "shop/legacy/__init__.py": "",
            "shop/legacy/old.py": """
                import threading
                from flask import request

                def old():
                    return request.path

                threading.Thread(target=old).start()
            """,
            "pyproject.toml": """
                [tool.flask-handoff.check]
                include = ["shop"]
                exclude = ["shop/legacy/*"]
                sinks = ["shop.tenant:current_tenant"]
                entry-points = ["shop.nightly:run"]
                task-decorators = ["legacy_queue.job"]
            """,
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "flask_handoff.check", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
    )

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert sorted([s["name"] for s in f["path"]] for f in report["findings"]) == [
        ["purge", "session"],
        ["run", "current_tenant()"],
    ]
    assert {f["how"] for f in report["findings"]} == {"entry point in the configuration"}


def test_exit_status_text_and_sarif_output(project: Path) -> None:
    write(project, SHOP)
    schema = json.loads((Path(__file__).parent / "data/sarif-2.1.0-rtm.5.json").read_text())

    text = _run(project, "shop")
    sarif = _run(project, "shop", "--format", "sarif")
    clean = _run(project, "shop/accounts.py")
    usage = _run(project, "nowhere")

    assert text.returncode == 1
    assert text.stdout.startswith(
        "shop/views/export.py:5 build_export (thread target)\n"
        "  -> shop/reports/builder.py:4 ReportBuilder.run\n"
    )
    assert "  -> shop/accounts.py:6 request.cookies   HO100 (no request context in a thread)\n" in (
        text.stdout
    )
    assert f"fix: {LEAK_FIX}" in text.stdout
    log = json.loads(sarif.stdout)
    jsonschema.Draft4Validator(schema).validate(log)
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert len(result["codeFlows"][0]["threadFlows"][0]["locations"]) == 6
    assert (clean.returncode, usage.returncode) == (0, 2)
    assert "nowhere: no such file or folder" in usage.stderr


def test_a_bad_configuration_is_a_usage_error_naming_the_key(project: Path) -> None:
    write(project, {**SHOP, "pyproject.toml": "[tool.flask-handoff.check]\nsink = []\n"})

    done = _run(project, "shop")

    assert done.returncode == 2
    assert "unknown keys ['sink']" in done.stderr


def test_flask_handoff_check_is_the_same_command(project: Path) -> None:
    write(project, SHOP)
    argv, env = flask_command(f"sqlite:///{project}/jobs.sqlite3", "check", "shop")

    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)

    assert done.returncode == 1, done.stderr
    assert "shop/accounts.py:6 request.cookies" in done.stdout


def test_this_repository_has_no_leaks() -> None:
    result = check([ROOT / "src", ROOT / "service" / "src"], CheckConfig(root=ROOT))

    assert result.files > 50
    assert result.problems == []
    assert result.findings == []


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask_handoff.check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(),
    )


def test_a_local_name_or_parameter_named_like_a_proxy_is_not_the_proxy(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/sync.py": """
                import threading

                import requests
                from flask import g, session

                from .db import db

                def check_version():
                    session = requests.Session()
                    session.post("https://example.org/version")

                def purge():
                    session = db.session
                    session.execute("DELETE FROM tokens")

                def cleanup(session, g=None):
                    session.execute("VACUUM")
                    return g.get("x") if g else None

                def looped():
                    for session in ("a", "b"):
                        print(session.upper())

                def run():
                    check_version()
                    purge()
                    cleanup(db.session)
                    looped()
                    return session["user"]  # the module's: the real proxy

                threading.Thread(target=run).start()
            """,
            "shop/db.py": "db = None\n",
        },
    )

    assert paths(project) == [("shop/sync.py:24 run", "shop/sync.py:29 session")]


def test_imports_inside_a_function_guard_and_leak(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/audit.py": """
                import threading

                def actor():
                    from flask import has_request_context, request

                    if has_request_context():
                        return request.remote_addr
                    return None

                def link():
                    from flask import url_for

                    return url_for("orders.list")

                def user():
                    import flask

                    return flask.session["user"]

                def job():
                    return actor(), link(), user()

                threading.Thread(target=job).start()
            """,
        },
    )

    assert sorted(paths(project)) == [
        ("shop/audit.py:20 job", "shop/audit.py:10 link", "shop/audit.py:13 url_for()"),
        ("shop/audit.py:20 job", "shop/audit.py:15 user", "shop/audit.py:18 session"),
    ]


def test_reads_that_work_where_the_job_runs_are_not_reported(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/tasks.py": """
                from celery import shared_task
                from flask import abort, current_app, g, request, url_for

                @shared_task
                def export(order_id):
                    if order_id is None:
                        abort(400)  # raises anywhere; the task's wrapper makes it an error
                    with current_app.app_context():
                        g.order = order_id  # the task's own g
                        print(g.order)
                    with current_app.test_request_context("/orders"):
                        print(request.path, url_for("orders.list"))
                    if hasattr(g, "user"):
                        print(g.user)
                    if "tenant" in g:
                        print(g.tenant)
                    print(getattr(g, "locale", "en"), g.get("theme"))
                    return g.order  # outside the with: this g has nothing
            """,
        },
    )

    assert paths(project) == [("shop/tasks.py:5 export", "shop/tasks.py:18 g.order")]


def test_entry_points_made_out_of_sight_and_by_project_decorators(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/factory.py": """
                from celery import Celery

                def make_celery(app):
                    return Celery(app.import_name)
            """,
            "shop/worker.py": """
                import threading
                from functools import partial, wraps

                from rq.decorators import job as rq_job

                class RecordingJob(rq_job):
                    pass

                job = partial(RecordingJob, connection=None)

                def in_background(f):
                    @wraps(f)
                    def start(*args):
                        threading.Thread(target=f, args=args).start()
                    return start
            """,
            "shop/tasks.py": """
                import gevent
                from flask import current_app, request, session

                from .factory import make_celery
                from .worker import in_background, job

                celery = make_celery(current_app)

                @celery.task
                def mail():
                    return request.args

                @current_app.extensions["celery"].task(bind=True)
                def bill(self):
                    return request.path

                @job("queries")
                def query():
                    return session["user"]

                @in_background
                def audit():
                    return request.remote_addr

                def poll():
                    return request.host

                def watch():
                    return request.url

                def view(socketio):
                    socketio.start_background_task(poll)
                    gevent.spawn(watch)
            """,
        },
    )
    result = check([project / "shop"], CheckConfig(root=project))

    assert {(f.kind.label, f.path[0].name, f.site.name) for f in result.findings} == {
        ("task", "mail", "request.args"),
        ("task", "bill", "request.path"),
        ("RQ job", "query", "session"),
        ("thread target", "audit", "request.remote_addr"),
        ("thread target", "poll", "request.host"),
        ("greenlet", "watch", "request.url"),
    }


def test_reading_a_project_local_proxy_runs_its_getter(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/org.py": """
                from flask import g, request
                from werkzeug.local import LocalProxy

                def _get_current_org():
                    return request.view_args.get("org_slug", g.get("org_slug"))

                current_org = LocalProxy(_get_current_org)
                current_locale = LocalProxy(lambda: request.accept_languages.best)
            """,
            "shop/tasks.py": """
                from celery import shared_task

                from .org import current_locale, current_org

                @shared_task
                def refresh():
                    return current_org.id, current_locale
            """,
        },
    )

    assert sorted(paths(project)) == [
        (
            "shop/tasks.py:6 refresh",
            "shop/org.py:4 _get_current_org",
            "shop/org.py:5 request.view_args",
        ),
        (
            "shop/tasks.py:6 refresh",
            "shop/org.py:8 <lambda:8>",
            "shop/org.py:8 request.accept_languages",
        ),
    ]


RULES = {
    "shop/__init__.py": "",
    "shop/views.py": """
        import threading

        from flask import (
            Response, copy_current_request_context, g, make_response, request, url_for
        )

        def link():
            return url_for("orders.list")

        def rows():
            yield request.args["sep"].join(["a", "b"])

        def export():
            return Response(rows(), mimetype="text/csv")

        def log_close():
            print(request.path)

        def download():
            response = make_response("done")
            response.call_on_close(log_close)
            return response

        def upload():
            @copy_current_request_context
            def save():
                return g.user

            threading.Thread(target=save).start()
            threading.Thread(target=link).start()
    """,
}


def test_each_rule_has_its_code(project: Path) -> None:
    write(project, RULES)
    result = check([project / "shop"], CheckConfig(root=project))

    assert sorted((f.code, f.how, f.site.name, f.reason) for f in result.findings) == [
        ("HO101", "thread target", "url_for()", "(no request context in a thread)"),
        ("HO300", "call_on_close", "request.path", "(no request context after the response)"),
        (
            "HO300",
            "streamed response body",
            "request.args",
            "(no request context after the response)",
        ),
        ("HO301", "copy_current_request_context", "g.user", "(a new, empty g after the response)"),
    ]


def test_a_streamed_body_wrapped_in_stream_with_context_is_not_reported(project: Path) -> None:
    write(
        project,
        {
            "shop/views.py": """
                from flask import Response, request, stream_with_context

                def rows():
                    yield request.args["sep"]

                def export():
                    return Response(stream_with_context(rows()))
            """
        },
    )

    assert paths(project) == []


def test_rules_are_chosen_by_code_in_comments_configuration_and_options(project: Path) -> None:
    rules = dict(RULES)
    rules["shop/views.py"] = rules["shop/views.py"].replace(
        'return url_for("orders.list")', 'return url_for("orders.list")  # handoff: ignore[HO101]'
    )
    write(project, rules)
    silenced = check([project / "shop"], CheckConfig(root=project))
    chosen = check([project / "shop"], CheckConfig(root=project, select=["HO3"], ignore=["HO301"]))
    wrong_code = dict(RULES)
    wrong_code["shop/views.py"] = rules["shop/views.py"].replace("ignore[HO101]", "ignore[HO300]")
    write(project, wrong_code)
    not_silenced = check([project / "shop"], CheckConfig(root=project))

    assert "HO101" not in {f.code for f in silenced.findings}
    assert len(silenced.findings) == 3
    assert {f.code for f in chosen.findings} == {"HO300"}
    assert "HO101" in {f.code for f in not_silenced.findings}
    option = _run(project, "shop", "--select", "HO101")
    assert option.returncode == 1
    assert option.stdout.count("HO101 (") == 1
    assert "HO300" not in option.stdout
    assert _run(project, "shop", "--ignore", "HO100,HO3").returncode == 1  # HO101 left
    unknown = _run(project, "shop", "--select", "HO999")
    assert unknown.returncode == 2
    assert "unknown rule code(s) ['HO999']" in unknown.stderr


def test_a_site_reached_two_ways_is_reported_once_by_the_shorter(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/jobs.py": """
                import threading

                from celery import shared_task
                from flask import g, request

                def user():
                    return g.current_user.id

                def audit():
                    return user()

                @shared_task
                def nightly():
                    return audit()

                def view():
                    threading.Thread(target=user).start()
                    threading.Thread(target=audit).start()
                    threading.Thread(target=lambda: (request.path, request.path)).start()
            """,
        },
    )

    assert sorted(paths(project)) == [
        ("shop/jobs.py:19 view.<lambda:19>", "shop/jobs.py:19 request.path"),
        ("shop/jobs.py:6 user", "shop/jobs.py:7 g.current_user"),
    ]


def test_a_proxy_handed_over_names_the_code_that_hands_it(project: Path) -> None:
    write(
        project,
        {
            "shop/views.py": """
                import threading

                from flask import request

                def log(req):
                    print(req)

                def view():
                    threading.Thread(target=log, args=(request,)).start()
            """
        },
    )
    text = _run(project, "shop").stdout

    assert text.startswith("shop/views.py:8 view (hands a proxy to a thread target)\n")
    assert text.endswith("1 request-context leak found in 1 file.\n")


def test_a_library_callback_runs_in_the_background_code_that_uses_the_library(
    project: Path,
) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/db.py": """
                import logging
                import random

                from flask import has_request_context, request
                from flask_sqlalchemy import SignallingSession

                class RoutingSession(SignallingSession):
                    def get_bind(self, mapper=None, clause=None):
                        if "/reports/" not in request.path:  # any query runs this
                            return self.followers[0]
                        return random.choice(self.followers)

                class RequestFilter(logging.Filter):
                    def filter(self, record):
                        record.ip = request.remote_addr if has_request_context() else "-"
                        return True
            """,
            "shop/tasks.py": """
                from celery import shared_task

                @shared_task
                def refresh():
                    return 1
            """,
        },
    )

    assert paths(project) == [
        (
            "shop/tasks.py:4 refresh",
            "shop/db.py:8 RoutingSession.get_bind (called by the library)",
            "shop/db.py:9 request.path",
        )
    ]


def test_g_read_by_a_helper_called_in_the_jobs_own_app_context_is_its_own(
    project: Path,
) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/jobs.py": """
                import threading

                from flask import current_app, g, request

                def tenant():
                    name = g.tenant
                    return name, request.host

                def work(app):
                    with app.app_context():
                        g.tenant = "acme"
                        tenant()

                def view():
                    app = current_app._get_current_object()
                    threading.Thread(target=work, args=(app,)).start()
            """,
        },
    )

    assert paths(project) == [
        ("shop/jobs.py:9 work", "shop/jobs.py:5 tenant", "shop/jobs.py:7 request.host")
    ]


def test_a_streamed_body_reading_the_app_is_reported_and_a_thread_reading_it_is_not(
    project: Path,
) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/stale.py": """
                import threading

                from flask import Response, current_app

                def process_issues(repository):
                    for issue in current_app.github.issues(repository):
                        yield issue.title

                def warm():
                    return current_app.config["CACHE"]  # the app context: not this rule

                def close_stale():
                    threading.Thread(target=warm).start()
                    return Response(process_issues("astropy"), mimetype="text/plain")
            """,
        },
    )
    [finding] = check([project / "shop"], CheckConfig(root=project)).findings

    assert (finding.code, finding.site.name, finding.reason) == (
        "HO300",
        "current_app.github",
        "(no application context after the response)",
    )


def test_dispatch_tables_super_and_methods_of_objects_of_unknown_class(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/org.py": """
                from flask import request, session

                def current_org():
                    return request.view_args["org"]

                def dropdown_values(query_id):
                    return [current_org(), query_id]

                def by_session():
                    return session["org"]

                EXPORTERS = {"csv": by_session}
            """,
            "shop/query.py": """
                from .org import EXPORTERS, dropdown_values

                class Base:
                    def prepare(self):
                        return EXPORTERS["csv"]()

                class ParameterizedQuery(Base):
                    def __init__(self, query_id):
                        self.query_id = query_id

                    def apply(self, value):
                        validators = {
                            "text": lambda v: isinstance(v, str),
                            "query": lambda v: v in dropdown_values(self.query_id),
                        }
                        validate = validators.get("query", lambda v: False)
                        return validate(value)

                    def prepare(self):
                        return super().prepare()
            """,
            "shop/tasks.py": """
                from celery import shared_task

                @shared_task
                def refresh_queries(queries):
                    for query in queries:
                        query.parameterized.apply(1)  # a model's property: class unknown

                @shared_task
                def export(query):
                    query.prepare()
            """,
        },
    )
    found = {
        (f.path[0].name, *(s.name for s in f.path[1:])) for f in check([project / "shop"]).findings
    }

    assert found == {
        (
            "refresh_queries",
            "ParameterizedQuery.apply (by method name)",
            "ParameterizedQuery.apply.<lambda:14>",
            "dropdown_values",
            "current_org",
            "request.view_args",
        ),
        (
            "export",
            "Base.prepare (by method name)",
            "by_session",
            "session",
        ),
    }


def test_patterns_of_safe_code_seen_in_real_projects(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/events.py": """
                from flask import Response, current_app, stream_with_context

                def subscribe():
                    @stream_with_context
                    def gen():
                        for event in current_app.events.subscribe():
                            yield str(event)

                    return Response(gen(), mimetype="text/event-stream")
            """,
            "shop/alerts.py": """
                from flask import flash, g

                def set_status(alert, status):
                    alert.history.append((status, g.login))  # set by the task below

                def apply(op, uuids, emit_flash=True):
                    message = f"{op}: {len(uuids)} done"
                    if message and emit_flash:
                        flash(message)
                    return message
            """,
            "shop/mail.py": """
                from flask_login import current_user

                def language(user=None):
                    return getattr(user or current_user, "language", None) or "en"
            """,
            "shop/signals.py": """
                from blinker import signal

                class Dataset:
                    on_added = signal("added")

                    def add(self, resource):
                        self.on_added.send(self, resource=resource)

                class Mail:
                    def send(self):
                        from flask import request

                        return request.host
            """,
            "shop/tasks.py": """
                import threading

                from celery import shared_task
                from flask import g

                from .alerts import apply, set_status
                from .mail import language
                from .signals import Dataset

                @shared_task
                def action(alert, login):
                    g.login = login  # the task's own g: read back below, it is this value
                    set_status(alert, "ack")
                    return language()

                def run(uuids):
                    return apply("mute", uuids, emit_flash=False)

                def view(uuids):
                    threading.Thread(target=run, args=(uuids,)).start()
                    threading.Thread(target=Dataset().add, args=(1,)).start()
            """,
        },
    )

    assert paths(project) == []


def test_a_flag_that_is_true_or_a_store_elsewhere_still_leaks(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/alerts.py": """
                from flask import flash, g

                def set_status(alert):
                    alert.history.append(g.login)

                def apply(op, emit_flash=True):
                    if emit_flash:
                        flash(op)
            """,
            "shop/tasks.py": """
                from celery import shared_task
                from flask import g

                from .alerts import apply, set_status

                def login():
                    g.login = "x"  # on another path: this task's g is not set

                @shared_task
                def action(alert):
                    set_status(alert)
                    apply("mute", emit_flash=True)
            """,
        },
    )

    assert sorted(paths(project)) == [
        ("shop/tasks.py:10 action", "shop/alerts.py:3 set_status", "shop/alerts.py:4 g.login"),
        ("shop/tasks.py:10 action", "shop/alerts.py:6 apply", "shop/alerts.py:8 flash()"),
    ]


def test_names_that_look_like_tasks_or_project_methods_but_are_not(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/locustfile.py": """
                import locust
                from flask import request

                class Visitor(locust.HttpUser):
                    @locust.task  # a load test's step, not a worker's task
                    def home(self):
                        return request.path
            """,
            "shop/views.py": """
                from flask import request

                class ResultResource:
                    def options(self):  # answers CORS preflight requests
                        return request.headers["Origin"]
            """,
            "shop/tasks.py": """
                from celery import shared_task

                @shared_task
                def refresh(query):
                    return query.options("joined").all()  # SQLAlchemy's, not the view's
            """,
        },
    )

    assert paths(project) == []


def test_a_read_behind_a_parameter_follows_what_each_caller_passes(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/files.py": """
                from flask import request, session

                def should_inline(mimetype):
                    return request.user_agent.platform != "Android"

                def zip_files(files, return_file=False):
                    archive = "/tmp/a.zip"
                    if return_file:
                        return archive
                    return should_inline("application/zip")

                def forced_locale(user=None, *, allow_session=False):
                    if user:
                        return user.lang
                    elif allow_session:
                        return session["lang"]
                    return None

                def force_locale(user=None, *, allow_session=False):
                    return forced_locale(user, allow_session=allow_session)
            """,
            "shop/tasks.py": """
                from celery import shared_task

                from .files import force_locale, zip_files

                @shared_task
                def package(files):
                    return zip_files(files, return_file=True)

                @shared_task
                def notify():
                    return force_locale()

                @shared_task
                def download(files):
                    return zip_files(files)  # the default: the read runs

                @shared_task
                def remind(user):
                    return force_locale(allow_session=True)  # user may be None: it runs
            """,
        },
    )

    assert sorted(paths(project)) == [
        (
            "shop/tasks.py:14 download",
            "shop/files.py:6 zip_files",
            "shop/files.py:3 should_inline",
            "shop/files.py:4 request.user_agent",
        ),
        (
            "shop/tasks.py:18 remind",
            "shop/files.py:19 force_locale",
            "shop/files.py:12 forced_locale",
            "shop/files.py:16 session",
        ),
    ]


def test_a_task_whose_app_pushes_a_request_context_reports_only_body_reads(
    project: Path,
) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/tasks.py": """
                from flask import request, session

                from .worker import celery

                @celery.task(request_context=True)  # the project's Celery pushes a request
                def build(site):
                    session["lang"] = site.lang
                    return request.form["title"]
            """,
            "shop/worker.py": """
                from .factory import make_celery

                celery = make_celery()
            """,
            "shop/factory.py": "def make_celery():\n    return None\n",
        },
    )
    [finding] = check([project / "shop"], CheckConfig(root=project)).findings

    assert (finding.how, finding.site.name) == ("task, request context pushed", "request.form")


def test_functions_handed_to_a_project_wrapper_of_a_starter_start_there(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/jobs.py": """
                from flask import url_for
                from flask_login import current_user
                from flask_rq import get_queue

                def enqueue_job(func, *args, description=None):
                    user_id = current_user.id  # in the view that enqueues: fine
                    get_queue().enqueue_call(func=func, args=args, meta={"user": user_id})

                def enqueue_export(func, *args):
                    return enqueue_job(func, *args, description="export")

                def send_email(to, link=None):
                    if not link:
                        link = url_for("student.index", _external=True)
                    return to, link

                def export(course_id):
                    return current_user.email, course_id

                def email_scores(to, name):
                    return send_email(to, link="https://example.org/" + name)

                def view():
                    enqueue_export(export, 1)
                    enqueue_job(email_scores, "a@example.org", "cs61a")
            """,
        },
    )

    assert paths(project) == [
        ("shop/jobs.py:17 export", "shop/jobs.py:18 current_user.email"),
    ]


def test_signals_pools_in_extensions_and_namespace_packages_are_followed(project: Path) -> None:
    write(
        project,
        {
            # no __init__.py anywhere: namespace packages
            "shop/events.py": """
                from blinker import Namespace
                from flask import url_for

                signals = Namespace()
                order_paid = signals.signal("order-paid")

                @order_paid.connect
                def link_receipt(sender, **extra):
                    return url_for("receipts.show", order=sender)

                def log_payment(sender, **extra):
                    from flask import request

                    return request.remote_addr

                order_paid.connect(log_payment)
            """,
            "shop/jobs/payments.py": """
                import threading

                from flask import current_app, session

                from shop.events import order_paid

                def settle(order):
                    order_paid.send(order)

                def remember():
                    return session["cart"]

                def view(order):
                    threading.Thread(target=settle, args=(order,)).start()
                    current_app.extensions["executor"].submit(remember)
            """,
        },
    )
    found = {
        (f.path[0].name, f.path[-2].name, f.site.name) for f in check([project / "shop"]).findings
    }

    assert found == {
        ("settle", "link_receipt (signal receiver)", "url_for()"),
        ("settle", "log_payment (signal receiver)", "request.remote_addr"),
        ("remember", "remember", "session"),
    }


def test_a_handed_in_collaborators_method_and_configured_library_callbacks(
    project: Path,
) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/store.py": """
                from flask import flash

                class Store:
                    def add(self, url):
                        flash(f"added {url}")  # a common name, on a handed-in store
            """,
            "shop/importer.py": """
                import threading

                from dramatiq import Middleware
                from flask import request

                class Importer:
                    def __init__(self, **kwargs):
                        self.store = kwargs["store"]

                    def run(self, urls):
                        for url in urls:
                            self.store.add(url)

                class Audit(Middleware):
                    def before_process_message(self, broker, message):
                        message.options["ip"] = request.remote_addr

                def view(store):
                    threading.Thread(target=Importer(store=store).run, args=([],)).start()
            """,
            "pyproject.toml": """
                [tool.flask-handoff.check]
                library-callbacks = ["dramatiq.Middleware:before_process_message"]
            """,
        },
    )
    done = _run(project, "shop", "--format", "json")
    bad = (project / "pyproject.toml").read_text().replace(":before_process_message", "")
    (project / "pyproject.toml").write_text(bad)
    usage = _run(project, "shop")

    assert sorted([s["name"] for s in f["path"]] for f in json.loads(done.stdout)["findings"]) == [
        [
            "Importer.run",
            "Audit.before_process_message (called by the library)",
            "request.remote_addr",
        ],
        ["Importer.run", "Store.add (by method name)", "flash()"],
    ]
    assert usage.returncode == 2
    assert "must name a base class and its method" in usage.stderr


def test_views_locks_and_gs_own_cache_are_not_background_paths(project: Path) -> None:
    write(
        project,
        {
            "shop/__init__.py": "",
            "shop/plugin.py": """
                from flask import Blueprint, g, request

                bp = Blueprint("updates", __name__)

                class UpdatePlugin:
                    @bp.route("/update", methods=["POST"])
                    def perform_update(self):  # a view: Flask calls it, for a request
                        return request.get_json()

                class ItemLock:
                    def lock(self, item):
                        return g.user

                class CachedService:
                    def get_cached(self):
                        key = "cached:" + self.name
                        if not hasattr(g, key):
                            setattr(g, key, self.load())
                        return getattr(g, key)

                    def load(self):
                        return []

                def has_privilege(name):
                    if not getattr(g, "user", None):  # no user: a worker may
                        return True
                    return name in g.user["privileges"]
            """,
            "shop/tasks.py": """
                from celery import shared_task

                from .plugin import CachedService, has_privilege

                @shared_task
                def update(updater, redis_lock):
                    updater.perform_update("1.2")  # the updater's, not the view
                    redis_lock.lock("update")  # redis's, not ItemLock's
                    return CachedService().get_cached(), has_privilege("publish")
            """,
        },
    )

    assert paths(project) == []
