"""gunicorn settings of `make run` (and of any deployment that passes `-c nexus_site/gunicorn_conf.py`).

gthread workers: `WEB_CONCURRENCY` processes (default: the number of CPU cores, at least 2), each serving
`WEB_THREADS` requests at a time (default 8) and keeping an idle browser's connection open `keepalive`
seconds (a board polling every 2 s reuses its connection). Every process reads the same database and the
same cache (`CACHES`: Redis, else files), so any worker can answer any request; the embedded default's
flow recompute thread runs in whichever worker took the change, coalesced through the database
(`flow.services.recompute_request`) and serialised across processes by the Nexus's flow lock
(`flow.locks`). Static files are served by WhiteNoise inside Django. Options given on the command line
win (`--bind` is, by `make run`).
"""

from __future__ import annotations

import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "0")) or max(2, os.cpu_count() or 2)
threads = int(os.environ.get("WEB_THREADS", "8"))
#: Seconds an idle keep-alive connection stays open (a viewer polls every 2 s).
keepalive = 5
#: A request running longer than this many seconds gets its worker restarted.
timeout = 60
graceful_timeout = 10
#: Access log to standard output when ACCESS_LOG=1 (off by default: 200 viewers polling fill a screen).
accesslog = "-" if os.environ.get("ACCESS_LOG", "") in ("1", "true", "yes") else None
proc_name = "nexus-flow"
#: No control socket (gunicorn 27 puts one at ~/.gunicorn/gunicorn.ctl, which a second server on the same
#: machine, another checkout's or a test's, would share).
control_socket_disable = True


def _flag(name: str, default: bool) -> bool:
    """An environment switch read as the settings read it (django-environ: 1, true, yes, on...)."""
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "y", "on", "ok")


#: gunicorn's own lines (start, workers booting or timing out, a request it failed to handle, the
#: access log) in the app's format: JSON lines when `LOG_JSON` is on (by default when `DEBUG` is off,
#: `settings.LOG_JSON`), with the request id (an access line takes the response's `X-Request-ID`) and
#: credentials masked (`nexus_site.logs`). Otherwise gunicorn's plain format.
if _flag("LOG_JSON", not _flag("DEBUG", True)):
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "nexus_site.logs.RequestIdFilter"}},
        "formatters": {"json": {"()": "nexus_site.logs.JsonFormatter"}},
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            },
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            # Not propagated: the app's root handler (settings.LOGGING) would write them a second time.
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }


def post_worker_init(worker: object) -> None:
    """Once a worker has loaded the app: its start-up objects (modules, URL patterns, templates) are
    moved out of the cyclic garbage collector's sight (`gc.freeze`), so a full collection, which would
    otherwise walk them all, costs a request a fraction of a millisecond instead of 25 ms or more."""
    import gc

    gc.collect()
    gc.freeze()
