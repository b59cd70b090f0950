"""`python -m nexus_site.servicecheck`: fail fast, with instructions, when PostgreSQL or Redis is not
reachable at `DATABASE_URL` / `REDIS_URL` (used by `make test` before the suite runs)."""

from __future__ import annotations

import os
import sys

import environ
import psycopg
import redis

HOW_TO_START = (
    "Start the services first, for example on a laptop with Docker:\n"
    "`SECRET_KEY=dev POSTGRES_PASSWORD=dev docker compose up -d db redis` and\n"
    "`export DATABASE_URL=postgres://nexus:dev@127.0.0.1:5432/nexus`;\n"
    "on a Debian machine: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` and\n"
    "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`."
)


def main() -> int:
    problems: list[str] = []
    db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    if db["ENGINE"] != "django.db.backends.postgresql":
        problems.append(f"DATABASE_URL must point at PostgreSQL for `make test` (got {db['ENGINE']}).")
    else:
        try:
            psycopg.connect(
                host=db.get("HOST") or "127.0.0.1",
                port=int(db.get("PORT") or 5432),
                user=db.get("USER") or "postgres",
                password=db.get("PASSWORD") or None,
                dbname="postgres",
                connect_timeout=3,
            ).close()
        except psycopg.Error as exc:
            problems.append(
                f"PostgreSQL is not reachable at {db.get('HOST')}:{db.get('PORT')}: {exc}".strip()
            )
    url = os.environ.get("REDIS_URL", "")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except (redis.RedisError, ValueError) as exc:
        problems.append(f"Redis is not reachable at {url!r}: {exc}")
    if problems:
        print(
            "make test needs PostgreSQL and Redis:\n- " + "\n- ".join(problems) + "\n" + HOW_TO_START,
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
