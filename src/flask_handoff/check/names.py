"""The outside names the checker knows: what needs a request, what guards against its
absence, and what runs code outside the request. Dotted paths as the project imports
them (an object made by a call is written ``Class()``)."""

from __future__ import annotations

from dataclasses import dataclass

#: Proxies that need the request (``g``: the request's values are not in a job's ``g``).
PROXIES = {
    "flask.request": "request",
    "flask.globals.request": "request",
    "flask.session": "session",
    "flask.globals.session": "session",
    "flask.g": "g",
    "flask.globals.g": "g",
    "flask_login.current_user": "current_user",
    "flask_login.utils.current_user": "current_user",
}

#: ``current_app``: a worker's task and a thread that pushes one have an application
#: context; code that runs after the response (a streamed body, ``call_on_close``) has
#: none, unless it is wrapped in ``stream_with_context``.
APP_PROXIES = {"flask.current_app": "current_app", "flask.globals.current_app": "current_app"}
#: Everything a read of which is checked (``current_app`` only after the response).
READ_PROXIES = {**PROXIES, **APP_PROXIES}
#: Proxies that a ``with app.app_context():`` gives the code in it.
APP_CONTEXT_PROXIES = {"g", "current_app"}

#: Functions that need the request.
CALLS = {
    "flask.url_for": "url_for",
    "flask.helpers.url_for": "url_for",
    "flask.make_response": "make_response",
    "flask.helpers.make_response": "make_response",
    "flask.flash": "flash",
    "flask_login.login_user": "login_user",
    "flask_login.logout_user": "logout_user",
    "flask_login.utils.login_user": "login_user",
    "flask_login.utils.logout_user": "logout_user",
}

#: ``request`` attributes that read the body: gone once the response is sent, even where
#: the request context was copied or replayed.
BODY = {"form", "files", "data", "json", "get_json", "get_data", "stream", "values", "input_stream"}

#: ``g`` reads that give a default where nothing was set (a job's own, empty ``g``).
G_TOLERANT = {"get", "setdefault", "pop"}

#: Methods whose ``with`` pushes a context: the code in it has its own request, or its
#: own application context (and ``g``).
PUSHES = {"test_request_context": "request", "request_context": "request", "app_context": "app"}

#: A test of these is a guard: the code under it runs only in a request.
GUARDS = {"flask.has_request_context", "flask.ctx.has_request_context"}
GUARD_PROXIES = {"request", "session"}  # `if request:` is False outside a request

STREAM_WITH_CONTEXT = {"flask.stream_with_context", "flask.helpers.stream_with_context"}
COPY_CONTEXT = {"flask.copy_current_request_context", "flask.ctx.copy_current_request_context"}
PARTIAL = {"functools.partial"}
#: werkzeug's ``LocalProxy``: a project's ``current_org = LocalProxy(getter)`` calls the
#: getter on every read.
LOCAL_PROXY = {"werkzeug.local.LocalProxy", "werkzeug.LocalProxy"}


@dataclass(frozen=True)
class Kind:
    """How code leaves the request."""

    label: str  # shown after the entry function
    where: str  # "in a thread": what the reason says
    copied: bool = False  # the request context travels along, its body does not
    after_response: bool = False  # runs in the request's thread, once it is over


THREAD = Kind("thread target", "in a thread")
THREAD_RUN = Kind("Thread subclass", "in a thread")
PROCESS = Kind("process target", "in another process")
POOL = Kind("executor task", "in a pool worker")
ASYNCIO = Kind("executor thread", "in an executor thread")
CELERY = Kind("Celery task", "in a Celery task")
RQ = Kind("RQ job", "in an RQ job")
HANDOFF = Kind("Handoff task", "in a Handoff job")
HANDOFF_REPLAY = Kind("Handoff task, request replayed", "in a Handoff job", copied=True)
COPIED = Kind("copy_current_request_context", "after the response", copied=True)
FLASK_EXECUTOR = Kind("Flask-Executor task", "after the response", copied=True)
CONFIGURED = Kind("entry point in the configuration", "outside the request")
STREAMED = Kind("streamed response body", "after the response", after_response=True)
CLOSED = Kind("call_on_close", "after the response", after_response=True)
TASK = Kind("task", "in a worker")
TASK_REPLAY = Kind(
    "task, request context pushed", "in a worker", copied=True
)  # ``@x.task`` of an app the checker cannot see made
GREENLET = Kind("greenlet", "in a greenlet")
DECORATED = Kind("project decorator", "outside the request")

#: Calls that start a function elsewhere: (kind, where the function is: a keyword, or the
#: position of the argument).
STARTERS: dict[str, tuple[Kind, str, int]] = {
    "threading.Thread": (THREAD, "target", 1),
    "threading.Timer": (THREAD, "function", 1),
    "multiprocessing.Process": (PROCESS, "target", 1),
    "concurrent.futures.ThreadPoolExecutor().submit": (POOL, "fn", 0),
    "concurrent.futures.ThreadPoolExecutor().map": (POOL, "fn", 0),
    "concurrent.futures.ProcessPoolExecutor().submit": (POOL, "fn", 0),
    "concurrent.futures.ProcessPoolExecutor().map": (POOL, "fn", 0),
    "concurrent.futures.thread.ThreadPoolExecutor().submit": (POOL, "fn", 0),
    "concurrent.futures.process.ProcessPoolExecutor().submit": (POOL, "fn", 0),
    "flask_executor.Executor().submit": (FLASK_EXECUTOR, "fn", 0),
    "flask_executor.Executor().map": (FLASK_EXECUTOR, "fn", 0),
    "flask_executor.Executor().submit_stored": (FLASK_EXECUTOR, "fn", 1),
    "rq.Queue().enqueue": (RQ, "f", 0),
    "rq.Queue().enqueue_call": (RQ, "func", 0),
    "rq.Queue().enqueue_in": (RQ, "func", 1),
    "rq.Queue().enqueue_at": (RQ, "func", 1),
    "rq.queue.Queue().enqueue": (RQ, "f", 0),
    "asyncio.to_thread": (ASYNCIO, "func", 0),
    "asyncio.get_running_loop().run_in_executor": (ASYNCIO, "func", 1),
    "asyncio.get_event_loop().run_in_executor": (ASYNCIO, "func", 1),
    "flask.copy_current_request_context": (COPIED, "f", 0),
    "flask.ctx.copy_current_request_context": (COPIED, "f", 0),
    "_thread.start_new_thread": (THREAD, "function", 0),
    "flask_socketio.SocketIO().start_background_task": (THREAD, "target", 0),
    "gevent.spawn": (GREENLET, "run", 0),
    "gevent.spawn_later": (GREENLET, "run", 1),
    "eventlet.spawn": (GREENLET, "func", 0),
    "eventlet.spawn_n": (GREENLET, "func", 0),
}

#: Methods that start their argument elsewhere whatever object they are called on (a
#: Socket.IO server made by a factory, a response's ``call_on_close``).
METHOD_STARTERS: dict[str, tuple[Kind, str, int]] = {
    "start_background_task": (THREAD, "target", 0),
    "enqueue_call": (RQ, "func", 0),  # an RQ queue from a helper (flask_rq's get_queue())
    "call_on_close": (CLOSED, "func", 0),
}

#: What makes a blinker signal at module level; ``send`` on it calls every receiver
#: connected (``@sig.connect``, ``sig.connect(f)``), in the sender's thread.
SIGNAL_MAKERS = {
    "blinker.signal",
    "blinker.Signal",
    "blinker.NamedSignal",
    "blinker.Namespace().signal",
    "blinker.base.Namespace().signal",
    "flask.signals.Namespace().signal",
}
SIGNAL_CONNECTS = {"connect", "connect_via"}

#: Decorators that make a method a view (``@bp.route(...)``, ``@app.post(...)``,
#: Flask-Admin's ``@expose``): Flask calls it for a request, never background code, so a
#: call by method name does not lead there.
VIEW_DECORATORS = {"route", "get", "post", "put", "patch", "delete", "expose"}

#: ``app.extensions["executor"].submit(f)``: a pool kept by an extension.
EXTENSION_POOL_METHODS = {"submit", "map"}

#: Response classes: a generator given as their body runs after the view returned, with
#: no request unless it is wrapped in ``stream_with_context``.
RESPONSES = {
    "flask.Response",
    "flask.wrappers.Response",
    "werkzeug.Response",
    "werkzeug.wrappers.Response",
    "werkzeug.wrappers.response.Response",
}
RESPONSE_METHODS = {"response_class"}  # ``app.response_class(gen())``

#: Base classes whose ``run`` runs in a thread or process of its own.
THREAD_CLASSES = {"threading.Thread": THREAD_RUN, "multiprocessing.Process": PROCESS}

#: Decorators that make a function a task, run by a worker (called or not: ``@x.task``
#: and ``@x.task(...)``).
TASK_DECORATORS = {
    "celery.shared_task": CELERY,
    "celery.Celery().task": CELERY,
    "flask_handoff.Handoff().task": HANDOFF,
    "flask.copy_current_request_context": COPIED,
    "flask.ctx.copy_current_request_context": COPIED,
    "rq.decorators.job": RQ,
    "rq.job": RQ,
    "flask_rq2.RQ().job": RQ,
    "dramatiq.actor": TASK,
}

#: ``@x.task`` / ``@x.task(...)`` on an object the checker cannot tell (a Celery app made
#: by a factory, ``app.extensions["celery"]``): a worker's task all the same.
TASK_METHODS = {"task"}

#: The same, where the checker reads Flask-Handoff's own source (this repository).
DEFINED_HERE = {"flask_handoff.extension:Handoff.task": "flask_handoff.Handoff().task"}

#: Methods of library base classes that the library itself calls, wherever it is used:
#: a project's override runs in background code too (a query in a task runs
#: ``get_bind``; a log line in a thread runs the logging filter).
_SESSIONS = (
    "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.Session",
    "flask_sqlalchemy.SignallingSession",
    "flask_sqlalchemy.session.Session",
)
CALLBACKS: dict[str, tuple[str, ...]] = {
    **{session: ("get_bind",) for session in _SESSIONS},
    "logging.Filter": ("filter",),
    "logging.Formatter": ("format",),
    "logging.Handler": ("emit",),
    "logging.StreamHandler": ("emit",),
    **{
        task: ("__call__", "before_start", "on_success", "on_failure", "after_return")
        for task in ("celery.Task", "celery.app.task.Task", "celery.Celery().Task")
    },
}

#: A method called on an object of unknown class is followed to the project's methods of
#: that name when at most this many classes define it (more: too unsure to report).
BY_NAME_LIMIT = 2


#: Names too common on outside objects (containers, strings, database sessions and
#: queries, HTTP clients, files) to follow by name, unless called on ``self.<attribute>``.
def _words(text: str) -> list[str]:
    return text.split()


COMMON_METHODS = {
    *dir(dict),
    *dir(list),
    *dir(set),
    *dir(str),
    *dir(bytes),
    # database sessions, HTTP clients, files, threads, loggers, templates
    *_words("""add all close commit count delete execute filter filter_by first flush get join
    limit merge offset one one_or_none open order_by post put patch query read refresh
    rollback run save scalar scalars send set start stop write render info debug warning
    error exception critical log lock unlock acquire release"""),
    # SQLAlchemy queries and statements
    *_words("""options with_entities group_by having distinct outerjoin subquery union exists
    yield_per with_for_update paginate where select_from params execution_options
    returning values update first_or_404 get_or_404 one_or_404"""),
    # HTTP methods: a view class's handlers belong to the request
    "head",
}

#: Methods that send a task to its worker: their arguments travel with it.
SENDERS = {"delay", "apply_async", "submit", "s", "si", "signature"}
