"""The board load run (`make loadtest`): N viewers poll a Nexus board while W writers rename its cards.

    python -m nexus_site.loadtest [--base http://127.0.0.1:8000] [--nexus eclipse-jdt] [--viewers 200]
        [--writers 5] [--interval 2] [--duration 60] [--json OUT.json] [--full-page] [--user po]

By default the viewers do what an open board does in a browser (`static/js/board.js`): poll the
"changed since?" answer (`board/version/`, conditional: 304 while nothing changed) and, on a change,
fetch the board's live part (`board/?live=1`, the part the page swaps in). `--full-page` polls the
whole board page instead (what a board without the live script would cost).

Runs `../shared/tools/boardload.py` (or `BOARDLOAD`; it needs aiohttp, a dev requirement) against a
server that is already serving (`make run`, or gunicorn on PostgreSQL + Redis) and whose database this
process reads too (the same `DATABASE_URL`). Before the run it picks the cards to write: two per writer,
the first in Product Backlog order among the in-progress columns (so every one is on the board's first
page of its column), and creates an API token for `--user` (the Product Owner of the demo); after the run
it revokes the token (the writers' titles are restored by the tool). Viewers log in as `--user` with
`DEMO_PASSWORD`. Exit status: the tool's (0 when no error, every change seen in time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = Path(os.environ.get("BOARDLOAD", ROOT.parent / "shared" / "tools" / "boardload.py"))


def _prepare(*, nexus_slug: str, username: str, items: int) -> tuple[str, list[int], int]:
    """(token, ids of `items` cards on the board's first pages, token id). Raises SystemExit with a
    message when the Nexus, the user or enough cards are missing."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus_site.settings")
    django.setup()
    from django.contrib.auth import get_user_model

    from backlog.models import ColumnCategory, Nexus, ProductBacklogItem
    from backlog.services.sync import token_create

    nexus = Nexus.objects.filter(slug=nexus_slug).first()
    if nexus is None:
        where = os.environ.get("DATABASE_URL", "db.sqlite3")
        raise SystemExit(f"loadtest: no Nexus {nexus_slug!r} in {where}")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise SystemExit(f"loadtest: no user {username!r}")
    ids = list(
        ProductBacklogItem.objects.alive()
        .filter(backlog__nexus=nexus, column__category=ColumnCategory.IN_PROGRESS)
        .order_by("rank")
        .values_list("pk", flat=True)[:items]
    )
    if len(ids) < items:
        raise SystemExit(f"loadtest: {nexus_slug!r} has {len(ids)} cards in progress, {items} are needed")
    row, key = token_create(user=user, name="boardload (make loadtest)")
    return key, ids, row.pk


def _revoke(token_id: int) -> None:
    from backlog.models_api import ApiToken
    from backlog.services.sync import token_revoke

    row = ApiToken.objects.select_related("user").get(pk=token_id)
    token_revoke(token=row, actor=row.user)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nexus_site.loadtest", description=__doc__.split("\n")[0])
    p.add_argument("--base", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    p.add_argument("--nexus", default="eclipse-jdt")
    p.add_argument("--user", default="po")
    p.add_argument("--viewers", type=int, default=200)
    p.add_argument("--writers", type=int, default=5)
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument(
        "--full-page",
        action="store_true",
        help="poll the whole board page (default: the 'changed since?' answer, then the live part)",
    )
    p.add_argument("--json", help="write the whole report here")
    a = p.parse_args(argv)
    if not TOOL.exists():
        raise SystemExit(f"loadtest: {TOOL} not found (set BOARDLOAD to boardload.py)")
    key, ids, token_id = _prepare(nexus_slug=a.nexus, username=a.user, items=max(1, 2 * a.writers))
    command = [
        sys.executable,
        str(TOOL),
        "--base",
        a.base,
        "--board",
        f"/n/{a.nexus}/board/" if a.full_page else f"/n/{a.nexus}/board/?live=1",
        "--login-user",
        a.user,
        "--login-password",
        os.environ.get("DEMO_PASSWORD", "demo"),
        "--viewers",
        str(a.viewers),
        "--writers",
        str(a.writers),
        "--interval",
        str(a.interval),
        "--duration",
        str(a.duration),
        "--token",
        key,
        "--write-url-template",
        f"/api/v1/nexuses/{a.nexus}/items/{{id}}/",
        "--write-ids",
        ",".join(map(str, ids)),
        "--seed",
        "1",
    ]
    if not a.full_page:
        command += ["--poll-path", f"/n/{a.nexus}/board/version/"]
    if a.json:
        command += ["--json", a.json]
    try:
        return subprocess.run(command, check=False).returncode
    finally:
        _revoke(token_id)


if __name__ == "__main__":
    sys.exit(main())
