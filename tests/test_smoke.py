"""The embedded default: SQLite, eager Celery, the demo import on a slice of the data, board answers 200.

`make test` runs this file a second time with DATABASE_URL=sqlite and no REDIS_URL."""

from __future__ import annotations

import gzip
import itertools

import pytest
from django.core.management import call_command
from django.test import Client

from backlog.demo import DATA_DIR
from backlog.models import ProductBacklogItem


@pytest.mark.smoke
@pytest.mark.django_db
def test_demo_on_a_slice_serves_the_board(tmp_path, settings):
    sliced = tmp_path / "slice.csv"
    with gzip.open(DATA_DIR / "transitions.csv.gz", "rt", encoding="utf-8") as src:
        sliced.write_text("".join(itertools.islice(src, 3001)), encoding="utf-8")
    call_command("load_demo", "--file", str(sliced))
    assert ProductBacklogItem.objects.exists()
    client = Client()
    assert client.login(username="po", password=settings.DEMO_PASSWORD)
    response = client.get("/n/eclipse-jdt/board/")
    assert response.status_code == 200
    assert "sq sq-" in response.content.decode()
