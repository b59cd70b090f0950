#!/usr/bin/env python3
"""Mirror a Nexus's Product Backlog into a local JSON file and push local edits back, using only the
documented REST API (see /api/docs/). Standard library only.

    export NEXUS_TOKEN=$(python manage.py api_token create po)
    python examples/sync_backlog.py --url http://127.0.0.1:8000 --nexus eclipse-jdt pull
    # edit mirror.json: change fields under "items", add items without an "id" ...
    python examples/sync_backlog.py --url http://127.0.0.1:8000 --nexus eclipse-jdt push

The mirror file holds `items` (yours to edit; one per PBI, by id), `pristine` (the server's copy as last
pulled, to find what you changed and to send its version as `If-Match`), the Definition of Workflow,
the teams and `since` (where the next incremental pull starts).

- `pull` asks only for what changed: `GET items/?updated_since=<since minus a minute>` paged through
  `next` (a minute of overlap because a write is stamped when its transaction starts and visible when
  it commits; duplicates are settled by `version`), then `GET items/deleted/?since=` for deletions.
  Your unpushed edits are kept unless the server changed that item too (then the server wins and the
  item is reported).
- `push` sends each edited item as a PATCH of the changed fields with `If-Match: "<version you
  read>"`: if someone changed it meanwhile the server answers 412 and nothing is overwritten; the item
  is reported as a conflict (pull, look, edit again). New items (no `id`) are created with
  `PUT items/by-external-id/<external_id>/` when they have an `external_id`, else `POST items/` with an
  `Idempotency-Key` kept in the file, so a retry after a network error creates nothing twice.

Exit status: 0 on success, 1 when some items were in conflict, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

EDITABLE = (
    "title",
    "description",
    "acceptance_criteria",
    "parent",
    "size",
    "labels",
    "class_of_service",
    "is_blocked",
    "blocked_reason",
    "external_id",
    "column",
    "teams",
)
OVERLAP = timedelta(minutes=1)
PAGE_SIZE = 1000


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body.get('message', body)}")
        self.status = status
        self.body = body


class Api:
    """A tiny client: JSON in and out, `Authorization: Token`, errors as `ApiError`."""

    def __init__(self, url: str, token: str, nexus: str) -> None:
        self.root = url.rstrip("/") + f"/api/v1/nexuses/{urllib.parse.quote(nexus)}"
        self.token = token

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[Any, dict[str, str]]:
        url = path if path.startswith("http") else self.root + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return (json.loads(raw) if raw else None), dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"message": raw[:200].decode(errors="replace")}
            raise ApiError(exc.code, payload) from None

    def pages(self, path: str) -> list[dict[str, Any]]:
        """Every row of a paged list, following `next` until it is null."""
        rows: list[dict[str, Any]] = []
        url: str | None = path
        while url:
            page, _ = self.call("GET", url)
            rows.extend(page["results"])
            url = page["next"]
        return rows


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _load(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"since": None, "items": {}, "pristine": {}, "columns": [], "teams": []}


def _save(path: Path, mirror: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(mirror, indent=1, sort_keys=True, ensure_ascii=False))
    tmp.replace(path)


def _edits(local: dict[str, Any], pristine: dict[str, Any]) -> dict[str, Any]:
    """The editable fields of `local` that differ from the server copy `pristine`."""
    changed = {}
    for name in EDITABLE:
        if name in local and local[name] != pristine.get(name):
            if name in ("labels", "teams") and sorted(map(str, local[name])) == sorted(
                map(str, pristine[name])
            ):
                continue
            changed[name] = local[name]
    if "teams" in changed:  # the mirror shows teams with their status; the API takes team ids
        changed["teams"] = [t["team"] if isinstance(t, dict) else t for t in changed["teams"]]
    return changed


def pull(api: Api, mirror: dict[str, Any]) -> str:
    """Bring the mirror up to date; returns a one-line report."""
    mirror["columns"] = api.pages("/columns/")
    mirror["teams"] = api.pages("/teams/")
    since = mirror.get("since")
    query = f"?page_size={PAGE_SIZE}"
    if since:
        start = (datetime.fromisoformat(since.replace("Z", "+00:00")) - OVERLAP).isoformat()
        query += f"&updated_since={_q(start)}"
    else:
        query += "&order=updated"
    rows = api.pages(f"/items/{query}")
    items, pristine = mirror["items"], mirror["pristine"]
    overwritten = []
    for row in rows:
        key = str(row["id"])
        old = pristine.get(key)
        if old is not None and old["version"] >= row["version"]:
            continue  # seen already (the overlap)
        if old is not None and key in items and _edits(items[key], old):
            overwritten.append(key)  # edited here and there: the server's copy wins
        items[key], pristine[key] = dict(row), dict(row)
        since = max(since or row["updated_at"], row["updated_at"])
    removed = 0
    if mirror.get("since"):
        start = (datetime.fromisoformat(mirror["since"].replace("Z", "+00:00")) - OVERLAP).isoformat()
        for stone in api.pages(f"/items/deleted/?page_size={PAGE_SIZE}&since={_q(start)}"):
            key = str(stone["id"])
            removed += key in pristine
            items.pop(key, None)
            pristine.pop(key, None)
    mirror["since"] = since
    report = f"pulled {len(rows)} changed items, removed {removed}; the mirror has {len(pristine)} items"
    if overwritten:
        report += f"; server changes replaced your unpushed edits of {', '.join(sorted(overwritten))}"
    return report


def push(api: Api, mirror: dict[str, Any]) -> tuple[str, int]:
    """Send local edits and new items; returns a report and the number of conflicts."""
    items, pristine = mirror["items"], mirror["pristine"]
    updated = created = 0
    conflicts: list[str] = []
    for key in list(items):
        local = items[key]
        if key in pristine:
            changes = _edits(local, pristine[key])
            if not changes:
                continue
            try:
                row, _ = api.call(
                    "PATCH", f"/items/{key}/", changes, If_Match=f'"{pristine[key]["version"]}"'
                )
            except ApiError as exc:
                if exc.status in (404, 412):
                    conflicts.append(f"{key} ({exc.body.get('message', exc.status)})")
                    continue
                raise
            items[key], pristine[key] = dict(row), dict(row)
            updated += 1
            continue
        # A new item: its key in "items" is yours (anything but a server id).
        body = {name: local[name] for name in EDITABLE if name in local}
        if body.get("external_id"):
            row, _ = api.call("PUT", f"/items/by-external-id/{_q(body['external_id'])}/", body)
        else:
            local.setdefault("idempotency_key", str(uuid.uuid4()))
            row, _ = api.call("POST", "/items/", body, Idempotency_Key=local["idempotency_key"])
        del items[key]
        items[str(row["id"])], pristine[str(row["id"])] = dict(row), dict(row)
        created += 1
    report = f"pushed {updated} updated, {created} created"
    if conflicts:
        report += f"; {len(conflicts)} in conflict (changed on the server meanwhile): {'; '.join(conflicts)}"
    return report, len(conflicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["pull", "push"])
    parser.add_argument("--url", default=os.environ.get("NEXUS_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("NEXUS_TOKEN"), help="or NEXUS_TOKEN")
    parser.add_argument("--nexus", required=True, help="the Nexus's slug")
    parser.add_argument("--mirror", type=Path, default=Path("mirror.json"))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set NEXUS_TOKEN (python manage.py api_token create USERNAME)")
    api = Api(args.url, args.token, args.nexus)
    mirror = _load(args.mirror)
    try:
        if args.command == "pull":
            report, conflicts = pull(api, mirror), 0
        else:
            report, conflicts = push(api, mirror)
    except (ApiError, urllib.error.URLError) as exc:
        _save(args.mirror, mirror)  # what was done is kept; a rerun continues
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _save(args.mirror, mirror)
    print(report)
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
