"""The job status API: a signed-in user sees, follows and cancels their own jobs only.

Who is signed in comes from ``@handoff.identity_loader``. Another user's job answers 404,
the same as a job that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from .current import current_state
from .job import FINAL_STATES, STATES, Job

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .extension import HandoffState


class _ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def make_blueprint() -> Blueprint:
    bp = Blueprint("handoff", __name__)

    @bp.errorhandler(_ApiError)
    def _api_error(exc: _ApiError) -> tuple[Response, int]:
        return jsonify(error=exc.error, message=exc.message), exc.status

    @bp.get("/")
    def list_jobs() -> Response:
        state, user = current_state(), _user()
        wanted = request.args.getlist("state")
        unknown = [s for s in wanted if s not in STATES]
        if unknown:
            raise _ApiError(400, "bad_state", f"Unknown state {unknown[0]!r}; use {STATES}.")
        limit = _int_arg("limit", 50, 1, 500)
        offset = _int_arg("offset", 0, 0, 10**9)
        jobs = state.store.list_jobs(identity=user, states=wanted, limit=limit, offset=offset)
        return jsonify(jobs=[j.to_dict() for j in jobs], limit=limit, offset=offset)

    @bp.get("/<job_id>")
    def show_job(job_id: str) -> Response:
        return jsonify(_own_job(job_id).to_dict())

    @bp.post("/<job_id>/cancel")
    def cancel_job(job_id: str) -> tuple[Response, int]:
        job = _own_job(job_id)
        if job.finished:
            raise _ApiError(409, "already_finished", f"Job {job_id} is already {job.state}.")
        job = current_state().ext.cancel(job_id)
        return jsonify(job.to_dict()), 202

    @bp.get("/<job_id>/events")
    def job_events(job_id: str) -> Response:
        _own_job(job_id)
        state = current_state()
        if state.watch.following >= state.events_max_streams:
            response = jsonify(
                error="too_many_streams",
                message="This server follows as many jobs as it may; ask"
                f" {request.path.rsplit('/', 1)[0]} instead, or try again shortly.",
            )
            response.status_code = 503
            response.headers["Retry-After"] = "10"
            return response
        stream = _events(state, job_id)
        return Response(
            stream,
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return bp


def _events(state: HandoffState, job_id: str) -> Iterator[str]:
    """Server-Sent Events: ``progress`` on each change, then one event named for the end.

    Runs after the view returned, so it holds the state object, not the request. Waits on
    the process's one watch (:mod:`.watch`): no query of its own until the job changes.
    """
    last: Any = None
    deadline = time.monotonic() + state.events_timeout
    with state.watch.follow(job_id) as following:
        while True:
            job = state.store.get(job_id)
            if job is None:
                yield _sse("gone", {"id": job_id})
                return
            data = job.to_dict()
            if job.state in FINAL_STATES:
                yield _sse(job.state, data)
                return
            seen = (job.state, data["progress"])
            if seen != last:
                last = seen
                yield _sse("progress", data)
            left = deadline - time.monotonic()
            if left <= 0 or not following.wait(left):
                yield _sse("timeout", data)
                return


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _user() -> str:
    user = current_state().ext.load_identity()
    if user is None:
        raise _ApiError(401, "unauthorized", "Sign in to see your jobs.")
    return str(user)


def _own_job(job_id: str) -> Job:
    user = _user()
    job = current_state().store.get(job_id)
    if job is None or str(job.identity) != user:
        raise _ApiError(404, "not_found", f"No job {job_id} among yours.")
    return job


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ApiError(400, "bad_argument", f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise _ApiError(400, "bad_argument", f"{name} must be between {low} and {high}.")
    return value
