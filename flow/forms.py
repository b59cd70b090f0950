"""Forms of the flow app: the query of the flow page, API and `flow_report` (one validation for all
three), and the flow settings of a scope (Service Level Expectation, kind of the WIP limit)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from backlog.models import ClassOfService, Label, Nexus, ScrumTeam, WipLimitKind
from flow.history import nexus_today
from flow.report import HISTORY_DAYS, MAX_MC_DAYS, MAX_MC_ITEMS, FlowQuery

#: Query parameter names, shared by the page, the CSV downloads, the API and `flow_report` (`--as-of`...).
QUERY_FIELDS = (
    "team",
    "level",
    "label",
    "class_of_service",
    "as_of",
    "from",
    "to",
    "mc_days",
    "mc_items",
    "mc_history_days",
)


#: The longest daily series a query may ask for with `from` (50 years of days: twice the JDT history up to
#: today): each day is a row of the answer (about 110 bytes in the API), so a `from` in year 1 would
#: build 740,000 of them.
MAX_SERIES_DAYS = 18262


class FlowQueryForm(forms.Form):
    """Validates a flow query against a Nexus. `team` is a Scrum Team's slug or name, `label` a label
    name, dates are ISO (YYYY-MM-DD) calendar days in the Nexus's time zone. Rules: `from` <= `to` <=
    `as_of` <= today. Errors name the parameter (`from`, `to`... as given)."""

    team = forms.CharField(required=False, max_length=100, help_text="Scrum Team (slug or name)")
    level = forms.ChoiceField(
        required=False,
        choices=[("", "Default"), ("team", "The team's own flow"), ("nexus", "Nexus columns of its items")],
        help_text="a Scrum Team's figures from its own team-level transitions (`team`) or from the Nexus "
        "columns of the items it is forecast on (`nexus`); default: its own flow when it has team-level "
        "history (`flow.team_level`); the whole Nexus has one level (ignored there)",
    )
    label = forms.CharField(required=False, max_length=60)
    class_of_service = forms.ChoiceField(required=False, choices=[("", "All"), *ClassOfService.choices])
    as_of = forms.DateField(required=False, input_formats=["%Y-%m-%d"], help_text="replay: as on that day")
    mc_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_MC_DAYS, label="Forecast days")
    mc_items = forms.IntegerField(required=False, min_value=1, max_value=MAX_MC_ITEMS, label="Forecast items")
    mc_history_days = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_MC_DAYS, label="History days"
    )

    def __init__(self, *args: Any, nexus: Nexus, teams: list[ScrumTeam] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nexus = nexus
        self.teams = teams if teams is not None else list(ScrumTeam.objects.filter(nexus=nexus))
        # `from` and `to` are Python keywords: declared here rather than as class attributes.
        self.fields["from"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="From")
        self.fields["to"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="To")
        self.order_fields(QUERY_FIELDS)

    def clean_team(self) -> ScrumTeam | None:
        value = (self.cleaned_data.get("team") or "").strip()
        if not value:
            return None
        for team in self.teams:
            if value in (team.slug, team.name):
                return team
        raise forms.ValidationError(f"No Scrum Team {value!r} in this Nexus.")

    def clean_label(self) -> str | None:
        value = (self.cleaned_data.get("label") or "").strip()
        if not value:
            return None
        if not Label.objects.filter(nexus=self.nexus, name=value).exists():
            raise forms.ValidationError(f"No label {value!r} in this Nexus.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = nexus_today(self.nexus)
        as_of: date | None = data.get("as_of")
        start: date | None = data.get("from")
        end: date | None = data.get("to")
        if as_of is not None and as_of > today:
            self.add_error("as_of", f"The as-of date cannot be after today ({today.isoformat()}).")
            return data
        history = data.get("mc_history_days") or HISTORY_DAYS
        if as_of is not None and as_of.toordinal() < history:  # the calendar starts on 0001-01-01
            self.add_error(
                "as_of",
                f"The as-of date is too early: the {history} days of Throughput history before it "
                "would start before 0001-01-01.",
            )
            return data
        last = as_of or today
        if end is not None and end > last:
            self.add_error("to", f"'to' cannot be after the as-of date ({last.isoformat()}).")
        if start is not None and end is not None and start > end:
            self.add_error("from", "'from' is after 'to'.")
        elif start is not None and end is None and start > last:
            self.add_error("from", f"'from' is after the as-of date ({last.isoformat()}).")
        elif start is not None and ((end or last) - start).days >= MAX_SERIES_DAYS:
            self.add_error(
                "from",
                f"The daily series is at most {MAX_SERIES_DAYS:,} days (50 years): 'from' is too far "
                f"before {(end or last).isoformat()}.",
            )
        return data

    def query(self) -> FlowQuery:
        """The validated query (call after `is_valid()`)."""
        d = self.cleaned_data
        return FlowQuery(
            team=d.get("team"),
            level=d.get("level") or None,
            label=d.get("label"),
            class_of_service=d.get("class_of_service") or None,
            as_of=d.get("as_of"),
            start=d.get("from"),
            end=d.get("to"),
            mc_days=d.get("mc_days"),
            mc_items=d.get("mc_items"),
            mc_history_days=d.get("mc_history_days"),
        )

    def error_list(self) -> list[dict[str, str]]:
        """Errors as `[{field, reason}]` (the CSV download's 400 and the command's message; the API
        answers in its own error format, see `flow.api.query_errors`)."""
        return [
            {"field": name if name != "__all__" else "query", "reason": str(message)}
            for name, messages in self.errors.items()
            for message in messages
        ]


class FlowSettingsForm(forms.Form):
    """The Service Level Expectation and WIP-limit kind of one scope (the Nexus or a Scrum Team)."""

    sle_percent = forms.IntegerField(min_value=1, max_value=100, initial=85, label="N: share of items (%)")
    sle_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="D: within calendar days",
        help_text="Empty: the Nth percentile of the last 90 days' Cycle Times.",
    )
    wip_limit_kind = forms.ChoiceField(
        choices=WipLimitKind.choices, initial=WipLimitKind.SOFT, label="When the WIP limit is reached"
    )
