"""`examples/sync_backlog.py`, a client that uses only the documented API, mirrors the demo Nexus's
Product Backlog from a live test server and pushes changes back (run as a subprocess, as a user would)."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from backlog.demo import DATA_DIR, DEMO_SLUG
from backlog.models import ProductBacklogItem
from backlog.services import pbi_delete, pbi_update
from backlog.services.sync import token_create

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "sync_backlog.py"


@pytest.fixture
def demo(tmp_path, settings):
    """The demo Nexus on a slice of the JDT history (as the smoke test loads it)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    sliced = tmp_path / "slice.csv"
    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as src:
        sliced.write_text("".join(itertools.islice(src, 1501)), encoding="utf-8")
    call_command("load_demo", "--file", str(sliced))
    return ProductBacklogItem.objects.filter(backlog__nexus__slug=DEMO_SLUG)


def _run(live_server, token, mirror, command):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            command,
            "--url",
            live_server.url,
            "--nexus",
            DEMO_SLUG,
            "--mirror",
            str(mirror),
        ],
        env={"NEXUS_TOKEN": token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def test_mirror_and_push_back(demo, live_server, tmp_path):
    _token, key = token_create(user=User.objects.get(username="po"), name="example")
    mirror = tmp_path / "mirror.json"

    code, out = _run(live_server, key, mirror, "pull")
    assert code == 0, out
    data = json.loads(mirror.read_text())
    live = dict(demo.alive().values_list("id", "version"))
    assert len(live) > 300
    assert {int(k): v["version"] for k, v in data["pristine"].items()} == live
    assert [c["name"] for c in data["columns"]]
    assert "pulled" in out

    # Edit two items locally and add one; meanwhile someone else edits a third item on the server.
    ids = sorted(live)
    first, second, third = (str(i) for i in ids[:3])
    data["items"][first]["title"] = "Renamed from the mirror"
    data["items"][second]["labels"] = [*data["items"][second]["labels"], "mirrored"]
    data["items"]["new-1"] = {"title": "Created from the mirror", "external_id": "MIRROR-1"}
    data["items"]["new-2"] = {"title": "Created without an external id"}
    data["items"][third]["title"] = "My edit, from an old copy"
    mirror.write_text(json.dumps(data))
    pbi_update(item=ProductBacklogItem.objects.get(pk=int(third)), actor=None, title="Their edit")

    code, out = _run(live_server, key, mirror, "push")
    assert code == 1, out  # one conflict
    assert "2 updated, 2 created" in out
    assert f"{third} (" in out
    assert ProductBacklogItem.objects.get(pk=int(first)).title == "Renamed from the mirror"
    assert "mirrored" in ProductBacklogItem.objects.get(pk=int(second)).labels.values_list("name", flat=True)
    assert ProductBacklogItem.objects.get(pk=int(third)).title == "Their edit"  # nothing overwritten
    assert demo.filter(external_id="MIRROR-1").count() == 1
    assert demo.filter(title="Created without an external id").count() == 1

    # A deletion on the server and a new pull: the mirror follows, the conflict resolves to theirs.
    pbi_delete(item=ProductBacklogItem.objects.get(pk=ids[3]), actor=None)
    code, out = _run(live_server, key, mirror, "pull")
    assert code == 0, out
    assert "removed 1" in out
    data = json.loads(mirror.read_text())
    assert data["items"][third]["title"] == "Their edit"
    assert {int(k): v["version"] for k, v in data["pristine"].items()} == dict(
        demo.alive().values_list("id", "version")
    )
    code, out = _run(live_server, key, mirror, "push")
    assert (code, "pushed 0 updated, 0 created" in out) == (0, True), out


def test_bad_token_is_an_error(live_server, tmp_path, db):
    code, out = _run(live_server, "nxf_nope", tmp_path / "m.json", "pull")
    assert code == 2
    assert "401" in out
