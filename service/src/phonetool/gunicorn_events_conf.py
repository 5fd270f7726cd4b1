"""The events process: the same app under gevent, for open job pages only.

The proxy (deploy/nginx.conf.in) sends ``/api/jobs/<id>/events`` here. A stream waits on
the process's one job watch (``handoff.follow``) in a greenlet, so thousands of open pages
cost no thread of the process that serves uploads and lists. This process runs no jobs:
the main server's pool (or the Celery workers) does.
"""

import os
import resource

wsgi_app = "phonetool:create_app()"
bind = os.environ.get("PHONETOOL_BIND") or "127.0.0.1:5001"
worker_class = "gevent"
# No control socket: its one default path in the home folder is not shared by two servers.
control_socket_disable = True
workers = 1
worker_connections = int(os.environ.get("PHONETOOL_EVENTS_CONNECTIONS", 4000))
graceful_timeout = 5
timeout = 120
accesslog = None  # a page reconnects every five minutes: not worth a line each

# A descriptor per open page: as many as the system lets this user have.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))

os.environ["PHONETOOL_RUN_JOBS"] = "0"
os.environ.setdefault("PHONETOOL_STREAMS_MAX", str(worker_connections - 100))
# Streams hold no connection while they wait; these serve their first look and changes.
os.environ.setdefault("PHONETOOL_WEB_THREADS", "32")
