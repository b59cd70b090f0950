"""The container health check: `python -m nexus_site.healthcheck [PATH]` asks the web process in the same
container for `PATH` (default `/healthz`, liveness; `docker-compose.yml`'s web service asks `/readyz`)
and exits 0 on a 200, 1 otherwise (the Dockerfile's `HEALTHCHECK`).

Plain HTTP to `127.0.0.1:$PORT` (8000), without Django (it runs every 30 s): the `Host` header is the
first usable entry of `ALLOWED_HOSTS` (Django refuses any other host: a 400), and `/healthz` and
`/readyz` are exempt from the HTTPS redirect (`SECURE_REDIRECT_EXEMPT`), so a redirect is no success.
"""

from __future__ import annotations

import http.client
import os
import sys

TIMEOUT_SECONDS = 5


def health_host(allowed_hosts: str | None) -> str:
    """The `Host` to send: the first entry of `ALLOWED_HOSTS` (comma-separated) that names a host
    (`.example.org` → `example.org`); `127.0.0.1` when it is unset, empty or only `*`."""
    for entry in (allowed_hosts or "").split(","):
        name = entry.strip().lstrip(".")
        if name and name != "*":
            return name
    return "127.0.0.1"


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    port = int(os.environ.get("PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers={"Host": health_host(os.environ.get("ALLOWED_HOSTS"))})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"{path}: {status}", file=sys.stderr)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
