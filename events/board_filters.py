"""What a viewer asks of the Nexus board, from its query string (kept in the URL, so a reload, a shared
link and the live refresh show the same board): `team` and `label` filters (repeatable ids), the
swimlanes (`lanes`), wall mode (`wall=1`) and the as-of day (`as_of=YYYY-MM-DD`). Bad input is a
`DomainError` naming the parameter (a 400 in the page, never a 500)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from django.http import QueryDict

from backlog.errors import DomainError
from backlog.models import Label, Nexus, ScrumTeam

#: Swimlanes: none, by Scrum Team, by PBI (its team squares across), by class of service.
LANES = {
    "": "None",
    "team": "By Scrum Team",
    "pbi": "By PBI (team squares across)",
    "cos": "By class of service",
}


@dataclass(frozen=True)
class BoardFilters:
    """A viewer's board: `teams` and `labels` (ids, sorted; an item shows when it has one of the teams,
    and one of the labels), `lanes` (a key of `LANES`), `wall` (wall mode), `as_of` (a past day, None:
    today, live)."""

    teams: tuple[int, ...] = ()
    labels: tuple[int, ...] = ()
    lanes: str = ""
    wall: bool = False
    as_of: date | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.teams or self.labels)

    def query(self, **override: object) -> str:
        """The query string of this board (with `override`s), canonical: the same board, the same string."""
        values: dict[str, object] = {
            "team": list(self.teams),
            "label": list(self.labels),
            "lanes": self.lanes,
            "wall": "1" if self.wall else "",
            "as_of": self.as_of.isoformat() if self.as_of else "",
        }
        values.update(override)
        pairs = []
        for key, value in values.items():
            for v in value if isinstance(value, list) else [value]:
                if v not in ("", None, False):
                    pairs.append((key, str(v)))
        return urlencode(pairs)

    def key(self) -> str:
        """A short digest of the filters, for cache keys."""
        return hashlib.sha256(self.query().encode()).hexdigest()[:16]


def _ids(query: QueryDict, name: str) -> tuple[int, ...]:
    raw = query.getlist(name)
    if any(not r.isdigit() for r in raw if r):
        raise DomainError(f"`{name}` takes ids (whole numbers).", field=name)
    return tuple(sorted({int(r) for r in raw if r}))


def board_filters_parse(*, query: QueryDict, nexus: Nexus) -> BoardFilters:
    """The `BoardFilters` of a query string. Raises `DomainError` (400) naming the parameter: ids that are
    not numbers or not this Nexus's teams or labels, an unknown `lanes`, a malformed or future `as_of`.
    Two queries at most (the teams, the labels), only when filtered."""
    teams = _ids(query, "team")
    labels = _ids(query, "label")
    if teams:
        known = set(ScrumTeam.objects.filter(nexus=nexus, pk__in=teams).values_list("pk", flat=True))
        if missing := set(teams) - known:
            raise DomainError(f"No Scrum Team {sorted(missing)} in this Nexus.", field="team")
    if labels:
        known = set(Label.objects.filter(nexus=nexus, pk__in=labels).values_list("pk", flat=True))
        if missing := set(labels) - known:
            raise DomainError(f"No label {sorted(missing)} in this Nexus.", field="label")
    lanes = query.get("lanes", "")
    if lanes not in LANES:
        raise DomainError(f"`lanes` is one of {', '.join(k for k in LANES if k)} (or empty).", field="lanes")
    as_of = None
    if raw := query.get("as_of", ""):
        try:
            as_of = date.fromisoformat(raw)
        except ValueError:
            raise DomainError("`as_of` is a day, YYYY-MM-DD.", field="as_of") from None
    return BoardFilters(teams=teams, labels=labels, lanes=lanes, wall=query.get("wall") == "1", as_of=as_of)
