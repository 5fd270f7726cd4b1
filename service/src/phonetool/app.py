"""The service: the app factory, its blueprints, JSON errors and request ids."""

from __future__ import annotations

import os
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The service, on embedded defaults unless the environment or ``config`` say otherwise."""
    app = Flask(__name__, instance_path=os.environ.get("PHONETOOL_INSTANCE") or None)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(settings(app.instance_path))
    app.config.update(config or {})

    from . import (
        account,
        auth,
        health,
        i18n,
        job_log,
        jobs_api,
        logs,
        metrics,
        openapi,
        oplog_api,
        retention,
        schema,
        security,
        streams,
        token_use,
        tokens,
        uploads,
        users,
        web,
    )
    from .extensions import handoff
    from .models import db

    logs.configure(app.config["PHONETOOL_LOG_FORMAT"])
    security.init_app(app)
    auth.init_app(app)
    db.init_app(app)
    schema.init_app(app)
    token_use.init_app(app)
    # Before the pool starts: its first look may recover a job lost in a crash, and the
    # log entries its signals write are said in words from the catalogs.
    i18n.init_app(app)
    job_log.connect_signals(app)
    handoff.init_app(app)
    streams.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(jobs_api.bp)
    app.register_blueprint(oplog_api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(web.bp)
    app.cli.add_command(users.users_cli)
    app.cli.add_command(retention.cleanup)
    _json_errors(app)
    _request_ids(app)
    hops = app.config["PHONETOOL_PROXY_HOPS"]
    if hops:
        # The client's address, scheme and host as the proxy saw them: for the sign-in
        # limits per address, the log and the links. Only behind a proxy that sets them.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    return app


def _request_ids(app: Flask) -> None:
    """Every request gets an id (the proxy's, or a new one) that its log entries and its
    jobs carry, and that the member sees in ``X-Request-Id`` to quote in a question."""

    @app.before_request
    def _assign() -> None:
        g.request_id = (request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:64]

    @app.after_request
    def _expose(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response


#: Seconds a client should wait when the database is too busy to answer in time.
BUSY_RETRY_AFTER = 5


def _json_errors(app: Flask) -> None:
    """Every error is JSON with a reason; overload is 429/503 with ``Retry-After``."""
    from .admission import Overloaded
    from .i18n import say
    from .jobs_api import NotFound
    from .passport import AuthError
    from .streams import NoSeat
    from .uploads import too_large

    @app.errorhandler(Overloaded)
    def _overloaded(exc: Overloaded) -> Any:
        return _retry_later(exc.status, exc.error, exc.message, exc.retry_after)

    @app.errorhandler(NoSeat)
    def _no_seat(exc: NoSeat) -> Any:
        if exc.status == 429:
            message = say(
                "You have %(n)d job pages following their jobs live; this one asks every few"
                " seconds instead. Close pages you no longer watch.",
                n=exc.per_member,
            )
        else:
            message = say(
                "The server follows as many job pages live as it may; this one asks every"
                " few seconds instead."
            )
        return _retry_later(exc.status, exc.error, message, exc.retry_after)

    @app.errorhandler(SQLAlchemyTimeout)
    @app.errorhandler(OperationalError)
    def _database_busy(exc: Exception) -> Any:
        app.logger.warning("database busy or unreachable: %s", exc)
        return _retry_later(
            503,
            "busy",
            say("The service is too busy to answer now. Try again in a few seconds."),
            BUSY_RETRY_AFTER,
        )

    @app.errorhandler(AuthError)
    def _auth(exc: AuthError) -> Any:
        return jsonify(error=exc.reason, message=exc.message), 401

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> Any:
        return jsonify(
            error="not_found", message=say("No job %(id)s among yours.", id=str(exc))
        ), 404

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        name = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description
        if exc.code == 413:  # the upload, over MAX_CONTENT_LENGTH: say the limit
            message = too_large(say)
        return jsonify(error=name, message=message), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unexpected error", exc_info=exc)
        request_id = g.get("request_id", "")
        return jsonify(
            error="internal_error",
            message=say("Something went wrong on our side (request %(id)s).", id=request_id),
        ), 500


def _retry_later(status: int, error: str, message: str, retry_after: int) -> Response:
    response = jsonify(error=error, message=message)
    response.status_code = status
    response.headers["Retry-After"] = str(retry_after)
    return response
