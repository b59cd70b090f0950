"""What integration adds to the Nexus board of `events` (which never imports it), registered in
`IntegrationConfig.ready` as a `nexus_site.extensions.BoardProvider`: the number of open integration
issues on each card, the side panel of open integration issues (age in calendar days since raised, level),
and the card action "Raise an integration issue" (the issues page's form, the PBI filled in)."""

from __future__ import annotations

from datetime import date

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from backlog.models import Nexus
from integration.models_issues import IntegrationIssue, IssueStatus
from nexus_site.extensions import BoardPanelRow

#: Open issues the side panel lists (highest level first, then oldest).
PANEL_ROWS = 12


def board_issue_counts(nexus: Nexus, item_ids: list[int]) -> dict[int, int]:
    """Open integration issues per PBI of the Nexus, for the PBIs that have any (one query; the
    Nexus's open issues, not an IN list of the board's cards, so its cost does not grow with them)."""
    through = IntegrationIssue.items.through
    rows = (
        through.objects.filter(integrationissue__nexus=nexus, integrationissue__status=IssueStatus.OPEN)
        .values_list("productbacklogitem_id")
        .annotate(n=Count("integrationissue_id"))
    )
    wanted = set(item_ids)
    return {item_id: n for item_id, n in rows if item_id in wanted}


def board_issue_panel(nexus: Nexus, today: date | None = None) -> list[BoardPanelRow]:
    """The Nexus's open integration issues, highest level first, then oldest: text, link, age in calendar
    days since raised, level. One query."""
    now = timezone.now()
    url = reverse("integration:issues", args=[nexus.slug])
    rows = IntegrationIssue.objects.filter(nexus=nexus, status=IssueStatus.OPEN).order_by(
        "-level", "raised_at"
    )
    return [
        BoardPanelRow(
            text=issue.title,
            url=f"{url}#issue-{issue.pk}",
            age_days=(now - issue.raised_at).days,
            level=f"L{issue.level} {issue.get_level_display()}",
        )
        for issue in rows.only("id", "title", "level", "raised_at")[:PANEL_ROWS]
    ]


def board_raise_url(slug: str, item_id: int) -> str:
    """The issues page with its raise form filled with the PBI `item_id`."""
    return reverse("integration:issues", args=[slug]) + f"?raise_pbi={item_id}#raise"
