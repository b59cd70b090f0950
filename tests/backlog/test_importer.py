"""`import_history`: mapping, replay, shift, idempotency, all-or-nothing errors, and the real JDT file."""

from __future__ import annotations

import gzip
import io
import itertools
import time
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backlog.demo import DATA_DIR
from backlog.importer import WorkflowFile, history_import
from backlog.models import (
    RANK_GAP,
    Nexus,
    ProductBacklogItem,
    ScrumTeam,
    Source,
    TeamInvolvement,
    TeamStatus,
    Transition,
    TransitionKind,
)
from backlog.services.items import involvement_set_status
from backlog.services.nexus import team_create, team_delete
from tests.backlog.test_structure_races import _first_holds_then_second

pytestmark = pytest.mark.django_db
WORKFLOW = DATA_DIR / "bugzilla_confirmed.json"
HEADER = "item_id,from_state,to_state,timestamp,component,title,severity\n"


def _csv(tmp_path: Path, body: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


SAMPLE = (
    "b-1,,NEW,2020-01-01T10:00:00Z,Core,First bug,major\n"
    "b-1,NEW,ASSIGNED,2020-01-02T10:00:00Z,Core,First bug,major\n"
    "b-1,ASSIGNED,RESOLVED,2020-01-05T10:00:00Z,Core,First bug,major\n"
    "b-2,,UNCONFIRMED,2020-01-03T10:00:00Z,UI,Second bug,minor\n"
    "b-2,UNCONFIRMED,WEIRD,2020-01-04T10:00:00Z,UI,Second bug,minor\n"
    "b-3,,NEW,2020-02-01T10:00:00Z,UI,Late bug,normal\n"
)


def _import(path: Path, *extra: str, stdout: io.StringIO | None = None) -> None:
    call_command(
        "import_history",
        str(path),
        "--nexus",
        "demo",
        "--workflow",
        str(WORKFLOW),
        "--team-field",
        "component",
        "--label-field",
        "severity",
        *extra,
        stdout=stdout or io.StringIO(),
    )


def test_import_creates_nexus_teams_items_and_log(tmp_path):
    _import(_csv(tmp_path, SAMPLE))
    nexus = Nexus.objects.get(slug="demo")
    assert [c.name for c in nexus.columns.order_by("position")] == [
        "Triage",
        "To Do",
        "In Progress",
        "Resolved",
        "Verified",
        "Closed",
    ]
    assert set(ScrumTeam.objects.filter(nexus=nexus).values_list("name", flat=True)) == {"Core", "UI"}
    b1 = ProductBacklogItem.objects.get(external_id="b-1")
    assert (b1.title, b1.column.name) == ("First bug", "Resolved")
    assert list(b1.labels.values_list("name", flat=True)) == ["major"]
    assert b1.involvements.get().status == "done"
    assert list(Transition.objects.filter(item=b1).values_list("to_name", flat=True)) == [
        "To Do",
        "In Progress",
        "Resolved",
    ]
    # The unmapped WEIRD state is skipped: b-2 stays in Triage.
    assert ProductBacklogItem.objects.get(external_id="b-2").column.name == "Triage"


def test_imported_rows_are_new_to_sync_clients(tmp_path):
    """Items keep the source's creation time but are stamped `updated_at` = the import, and their log
    rows `recorded_at` = the import: a client syncing with `?updated_since=<its last visit>` sees a
    history imported after that visit, however old the history."""
    from django.utils import timezone

    before = timezone.now()
    _import(_csv(tmp_path, SAMPLE))
    items = ProductBacklogItem.objects.filter(backlog__nexus__slug="demo")
    assert items.count() == 3
    assert all(i.created_at.year == 2020 and i.updated_at >= before for i in items)
    log = Transition.objects.filter(item__backlog__nexus__slug="demo")
    assert all(t.at.year == 2020 and t.recorded_at >= before for t in log)


def test_import_is_idempotent(tmp_path):
    path = _csv(tmp_path, SAMPLE)
    _import(path)
    counts = (ProductBacklogItem.objects.count(), Transition.objects.count())
    _import(path)
    assert (ProductBacklogItem.objects.count(), Transition.objects.count()) == counts


def test_replay_until_and_shift_to_today(tmp_path):
    _import(_csv(tmp_path, SAMPLE), "--replay-until", "2020-01-03", "--shift-to-today")
    b1 = ProductBacklogItem.objects.get(external_id="b-1")
    assert b1.column.name == "In Progress"  # the RESOLVED on 01-05 had not happened at the cut-off
    assert not ProductBacklogItem.objects.filter(external_id="b-3").exists()
    last = Transition.objects.filter(item=b1).latest("at")
    from django.utils import timezone

    assert (timezone.now().date() - last.at.date()).days == 1  # 01-02 is "yesterday" when 01-03 is today
    # Re-running on the same data adds nothing even though timestamps were shifted.
    _import(_csv(tmp_path, SAMPLE), "--replay-until", "2020-01-03", "--shift-to-today")
    assert Transition.objects.filter(item=b1).count() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("b-9,,NEW,yesterday,Core,x,minor\n", "line 8: unparseable timestamp"),
        (
            "b-9,,NEW,2020-01-02T00:00:00Z,Core,x,minor\nb-9,NEW,RESOLVED,2020-01-01T00:00:00Z,Core,x,minor\n",
            "line 9: event out of order for item b-9",
        ),
    ],
)
def test_bad_rows_name_the_line_and_write_nothing(tmp_path, body, message):
    with pytest.raises(CommandError, match=message):
        _import(_csv(tmp_path, SAMPLE + body))
    assert not Nexus.objects.exists()
    assert not Transition.objects.exists()


def test_missing_column_is_reported(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("item_id,to_state,timestamp\nx,NEW,2020-01-01T00:00:00Z\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"missing column.*from_state"):
        _import(path)


def test_jdt_file_imports_whole_and_fast():
    """The real file: 10,814 items, 32,099 events, all or nothing, bulk writes (time printed only)."""
    started = time.monotonic()
    _import(DATA_DIR / "transitions.csv.gz")
    elapsed = time.monotonic() - started
    print(f"\nJDT import: {elapsed:.1f} s")
    nexus = Nexus.objects.get(slug="demo")
    assert ProductBacklogItem.objects.filter(backlog__nexus=nexus).count() == 10_814
    assert Transition.objects.filter(item__backlog__nexus=nexus).count() == 32_099
    assert ScrumTeam.objects.filter(nexus=nexus).count() == 6


def test_replayed_jdt_matches_the_readme(tmp_path):
    """Replayed to 2008-06-30: 7,394 items of which 516 in progress (README of the data set)."""
    _import(DATA_DIR / "transitions.csv.gz", "--replay-until", "2008-06-30")
    items = ProductBacklogItem.objects.filter(backlog__nexus__slug="demo")
    assert items.count() == 7_394
    assert items.filter(column__category="in_progress").count() == 516


def test_gzip_and_plain_files_read_the_same(tmp_path):
    gz = tmp_path / "log.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(HEADER + SAMPLE)
    _import(gz)
    assert ProductBacklogItem.objects.count() == 3
    assert date.today().year >= 2020


SPELLINGS = Path(__file__).parent / "data" / "team_spellings.csv"


def test_team_values_that_slugify_alike_are_one_scrum_team():
    """`Parser`, `parser` and `PARSER ` in one file: one Scrum Team named as first seen (`Parser`), the
    other spellings reported; before, the second spelling crashed the import on the team slug."""
    out = io.StringIO()
    _import(SPELLINGS, stdout=out)
    nexus = Nexus.objects.get(slug="demo")
    assert sorted(ScrumTeam.objects.filter(nexus=nexus).values_list("name", "slug")) == [
        ("Parser", "parser"),
        ("UI", "ui"),
    ]
    teams = dict(
        TeamInvolvement.objects.filter(item__backlog__nexus=nexus).values_list(
            "item__external_id", "team__name"
        )
    )
    assert teams == {"p-1": "Parser", "p-2": "Parser", "p-3": "Parser", "p-4": "UI"}
    assert "2 teams created" in out.getvalue()
    assert "Team 'parser', 'PARSER' imported as the Scrum Team 'Parser'" in out.getvalue()


def test_team_values_join_the_nexus_team_of_the_same_slug():
    """A Nexus that has a team `parser` already: every spelling of the file joins it (the report says
    which), no team is created for them."""
    report = history_import(path=SPELLINGS, nexus_slug="demo", workflow=WorkflowFile.load(WORKFLOW))
    team_create(nexus=report.nexus, name="parser")
    report = history_import(
        path=SPELLINGS,
        nexus_slug="demo",
        workflow=WorkflowFile.load(WORKFLOW),
        team_field="component",
    )
    assert report.teams_created == 1  # UI
    assert report.team_spellings == {"parser": ["Parser", "PARSER"]}
    assert set(ScrumTeam.objects.values_list("name", flat=True)) == {"parser", "UI"}


def test_new_items_are_ranked_rank_gap_apart():
    _import(SPELLINGS)
    ranks = list(ProductBacklogItem.objects.order_by("rank").values_list("rank", flat=True))
    assert [b - a for a, b in itertools.pairwise(ranks)] == [RANK_GAP] * 3


def test_reimport_keeps_a_team_square_a_person_changed(tmp_path):
    """b-1 and b-4 are in progress for Core. A person marks b-1's Core square ready to integrate; a
    re-import of the same file changes nothing, and one with later events (both resolved) moves both
    items, updates b-4's square (logged as the import's) and leaves b-1's as the person set it."""
    early = (
        "b-1,,NEW,2020-01-01T10:00:00Z,Core,First bug,major\n"
        "b-1,NEW,ASSIGNED,2020-01-02T10:00:00Z,Core,First bug,major\n"
        "b-4,,NEW,2020-01-01T11:00:00Z,Core,Fourth bug,minor\n"
    )
    later = (
        "b-1,ASSIGNED,RESOLVED,2020-01-05T10:00:00Z,Core,First bug,major\n"
        "b-4,NEW,RESOLVED,2020-01-06T11:00:00Z,Core,Fourth bug,minor\n"
    )
    _import(_csv(tmp_path, early))
    b1 = TeamInvolvement.objects.get(item__external_id="b-1")
    assert b1.status == TeamStatus.IN_PROGRESS
    involvement_set_status(involvement=b1, status=TeamStatus.READY_TO_INTEGRATE, actor=None, source=Source.UI)

    _import(_csv(tmp_path, early))  # idempotent: nothing new, nothing touched
    assert TeamInvolvement.objects.get(item__external_id="b-1").status == TeamStatus.READY_TO_INTEGRATE

    out = io.StringIO()
    _import(_csv(tmp_path, early + later), stdout=out)
    squares = dict(TeamInvolvement.objects.values_list("item__external_id", "status"))
    assert squares == {"b-1": TeamStatus.READY_TO_INTEGRATE, "b-4": TeamStatus.DONE}
    assert set(ProductBacklogItem.objects.values_list("column__name", flat=True)) == {"Resolved"}
    assert "1 team squares a person changed since the last import were kept" in out.getvalue()
    log = Transition.objects.filter(kind=TransitionKind.TEAM_STATUS).order_by("id")
    assert list(log.values_list("item__external_id", "source", "from_name", "to_name")) == [
        ("b-1", Source.UI, TeamStatus.IN_PROGRESS, TeamStatus.READY_TO_INTEGRATE),
        ("b-4", Source.IMPORT, TeamStatus.IN_PROGRESS, TeamStatus.DONE),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_import_waits_for_a_team_deletion_under_the_nexus_lock(tmp_path):
    """A Scrum Team deleted while an import makes items refer to it: the import waits on the Nexus lock,
    sees the team gone and creates it again. Without the lock it read the team, wrote involvements
    referring to it and failed on the foreign key once the deletion committed (an IntegrityError)."""
    first = _csv(tmp_path, SAMPLE.splitlines(keepends=True)[-1], name="first.csv")  # b-3 only
    nexus = history_import(path=first, nexus_slug="demo", workflow=WorkflowFile.load(WORKFLOW)).nexus
    path = _csv(tmp_path, SAMPLE)  # b-1, new, is Core's
    core = team_create(nexus=nexus, name="Core")
    error = _first_holds_then_second(
        partial(team_delete, team=core),
        partial(
            history_import,
            path=path,
            nexus_slug="demo",
            workflow=WorkflowFile.load(WORKFLOW),
            team_field="component",
        ),
    )
    assert error is None
    assert set(ScrumTeam.objects.values_list("name", flat=True)) == {"Core", "UI"}
    assert ScrumTeam.objects.get(name="Core").pk != core.pk
    assert TeamInvolvement.objects.get(item__external_id="b-1").team.name == "Core"


def _analyze_counts() -> dict[str, int]:
    """How many times PostgreSQL analyzed each bulk-loaded table (read past the per-transaction cache)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL stats_fetch_consistency = none")
        cursor.execute(
            "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [["backlog_productbacklogitem", "backlog_transition", "backlog_teaminvolvement"]],
        )
        return dict(cursor.fetchall())


def test_an_import_refreshes_the_planner_statistics_of_the_tables_it_filled(tmp_path):
    """Planned with the statistics of empty tables, the board's finished columns took 340 ms instead of
    25 on the synthetic Nexus right after its bulk load: an import that wrote rows ANALYZEs them; one that
    wrote nothing does not."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    before = _analyze_counts()
    _import(_csv(tmp_path, SAMPLE))
    after = _analyze_counts()
    assert all(after[t] == before.get(t, 0) + 1 for t in after), (before, after)
    _import(_csv(tmp_path, SAMPLE))  # idempotent: nothing new
    assert _analyze_counts() == after
