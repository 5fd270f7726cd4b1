"""How ``scripts/serve`` runs phonetool: gunicorn with threaded workers.

Threads, not one process per request: a Server-Sent Events stream or a slow upload then
holds a thread, not a process. One process per core, each with its own job pool sized so
that all processes together run one job per core (a job's pipeline uses the cores too).
A stop (SIGTERM, Ctrl-C) lets running requests end and gives running jobs
``HANDOFF_SHUTDOWN_TIMEOUT`` seconds before they go back to the queue; the grace below
is longer, so gunicorn does not kill a process that is still handing jobs back.

Every value can be changed the usual way (``GUNICORN_CMD_ARGS``, ``WEB_CONCURRENCY``).
"""

import os

_cores = os.cpu_count() or 1

wsgi_app = "phonetool:create_app()"
# Behind the proxy (scripts/serve) a Unix socket only nginx uses; alone, a loopback port.
bind = os.environ.get("PHONETOOL_BIND") or f"127.0.0.1:{os.environ.get('PORT', '5000')}"
worker_class = "gthread"
# No control socket: its one default path in the home folder is not shared by two servers.
control_socket_disable = True
workers = int(os.environ.get("WEB_CONCURRENCY", _cores))
threads = int(os.environ.get("PHONETOOL_WEB_THREADS", 16))
graceful_timeout = 40
timeout = 120
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

# Read by phonetool's config in every worker: database pools sized to the threads, and
# one job per core across the processes.
os.environ.setdefault("PHONETOOL_WEB_THREADS", str(threads))
os.environ.setdefault("PHONETOOL_JOB_WORKERS", str(max(1, _cores // workers)))
