"""Reading the transition log for the flow metrics: the engine's view of a Nexus's Definition of Workflow
and of its column changes, reduced to calendar days in the Nexus's time zone (the unit of every flow
metric; see `flow.metrics`)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from backlog.models import Nexus, ScrumTeam, Transition, TransitionKind, WorkflowColumn
from flow import metrics


def nexus_today(nexus: Nexus) -> date:
    """Today's date in the Nexus's time zone (the unit of every flow metric is that calendar day)."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(nexus.time_zone)).date()


def workflow_of(columns: list[WorkflowColumn]) -> metrics.Workflow:
    """The engine's view of a Definition of Workflow (columns in position order)."""
    names = tuple(c.name for c in columns)
    start = next((i for i, c in enumerate(columns) if c.is_start), 0)
    finish = next((i for i, c in enumerate(columns) if c.is_finish), len(columns) - 1)
    return metrics.Workflow(columns=names, started=start, finished=finish)


def _column_changes(
    nexus: Nexus,
    *,
    item_ids: list[int] | None = None,
    team: ScrumTeam | None = None,
    label: str | None = None,
    class_of_service: str | None = None,
) -> QuerySet[Transition]:
    qs = Transition.objects.filter(
        kind=TransitionKind.COLUMN, item__backlog__nexus=nexus, item__deleted_at__isnull=True
    )
    if item_ids is not None:
        qs = qs.filter(item_id__in=item_ids)
    if team is not None:
        qs = qs.filter(item__involvements__team=team)
    if label:
        qs = qs.filter(item__labels__name=label)
    if class_of_service:
        qs = qs.filter(item__class_of_service=class_of_service)
    return qs


def load_events(
    nexus: Nexus,
    columns: list[WorkflowColumn],
    *,
    item_ids: list[int] | None = None,
    team: ScrumTeam | None = None,
    label: str | None = None,
    class_of_service: str | None = None,
) -> list[metrics.ItemEvent]:
    """Column changes of the Nexus's live items from the transition log, in order, reduced to dates in
    the Nexus's time zone. Events into a column that no longer exists are matched by the column name
    they had, else ignored (unmapped). The filters select items by what they are now: the Scrum Teams
    forecast to work on them, their labels, their class of service. One query."""
    tz = zoneinfo.ZoneInfo(nexus.time_zone)
    index = {c.pk: i for i, c in enumerate(columns)}
    by_name = {c.name: i for i, c in enumerate(columns)}
    qs = _column_changes(nexus, item_ids=item_ids, team=team, label=label, class_of_service=class_of_service)
    # PostgreSQL reduces the timestamps to dates in the time zone itself (`AT TIME ZONE`, the same IANA
    # rules): no timestamp is parsed and converted in Python. SQLite gives them as text (UTC), read as
    # such (not through Django's converters), parsed by `datetime.fromisoformat`.
    in_sql = connection.vendor == "postgresql"
    when = TruncDate("at", tzinfo=tz) if in_sql else Cast("at", TextField())
    rows = (
        qs.order_by("item_id", "at", "id")
        .annotate(when=when)
        .values_list("item_id", "when", "to_column_id", "to_name")
    )
    sql, params = rows.query.sql_with_params()
    events = []
    last_id, key = None, ""
    event = metrics.ItemEvent
    seq = 0
    day_of = day_reader(tz)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):  # streamed: a large Nexus's log is not held twice
            for item_id, at, col_id, name in chunk:
                column = index.get(col_id) if col_id is not None else None
                if column is None:
                    column = by_name.get(name)
                if item_id != last_id:  # rows come item by item
                    last_id, key = item_id, str(item_id)
                events.append(event(key, day_of(at), column, seq))
                seq += 1
    return events


def day_sql(alias: str) -> tuple[str, bool]:
    """The SQL that reads the timestamp column `alias` (e.g. `t."at"`) for `day_reader`, with whether
    it takes the time zone's name as a parameter: on PostgreSQL its calendar day in that zone
    (`AT TIME ZONE`, the same IANA rules as zoneinfo), on SQLite its text (UTC)."""
    if connection.vendor == "postgresql":
        return f"({alias} AT TIME ZONE %s)::date", True
    return f"CAST({alias} AS text)", False


def day_reader(tz: zoneinfo.ZoneInfo) -> Callable[[Any], date]:
    """The calendar day in `tz` of a transition's timestamp as the log query read it: on PostgreSQL a
    date already (`AT TIME ZONE` in the query, `day_sql`); on SQLite the timestamp's text in UTC, which
    is compared as text against the day's split (`_day_split`) rather than parsed and converted one by
    one."""
    if connection.vendor == "postgresql":
        return _same
    parse, utc = datetime.fromisoformat, UTC
    splits: dict[str, tuple[str | None, date, date]] = {}

    def day(at: str) -> date:
        split = splits.get(at[:10])
        if split is None:
            split = splits[at[:10]] = _day_split(at, tz)
        if split[0] is None or len(at) not in (19, 26):
            return parse(at).replace(tzinfo=utc).astimezone(tz).date()  # exactly, by zoneinfo
        return split[1] if at < split[0] else split[2]

    return day


def _same(at: Any) -> Any:
    return at


def _day_split(at: str, tz: zoneinfo.ZoneInfo) -> tuple[str | None, date, date]:
    """How the UTC day of the timestamp text `at` (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC, as SQLite holds
    it) falls on calendar days in `tz`: (the UTC text from which it is the later day, the earlier day,
    the later day). The first is None when the offset changes during that UTC day (a DST switch): the
    timestamps of that day are converted one by one. So a log's timestamps are compared as text, not
    each converted (the offset of a zone changes at most once in a day)."""
    first = datetime.fromisoformat(at[:10]).replace(tzinfo=UTC)
    last = first + timedelta(days=1, microseconds=-1)
    offset = first.astimezone(tz).utcoffset()
    if offset is None or last.astimezone(tz).utcoffset() != offset:
        return None, first.date(), first.date()
    before, after = (first + offset).date(), (last + offset).date()
    if before == after:
        return "~", before, before  # "~" sorts after every timestamp text: all are `before`
    switch = datetime.combine(after, datetime.min.time()) - offset  # the later day's midnight, in UTC
    text = switch.strftime("%Y-%m-%d %H:%M:%S") + (f".{switch.microsecond:06d}" if switch.microsecond else "")
    return text, before, after
