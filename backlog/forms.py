"""Forms of the Product Backlog page. They parse and check the shape of input; the services check the
domain rules and raise `DomainError`, which the views put next to the field it names."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from backlog.errors import DomainError
from backlog.models import (
    ClassOfService,
    GoalStatus,
    Nexus,
    ProductBacklogItem,
    ProductGoal,
    ScrumTeam,
    WorkflowColumn,
)
from backlog.selectors import BacklogFilters

#: A position past every item: "move to the bottom".
BOTTOM = 2**31 - 1


class BacklogFilterForm(forms.Form):
    """Text search and filters of the backlog page (GET, and echoed in moves so the answer re-renders
    the same filtered view). Ids that match nothing filter everything out; invalid values filter
    nothing. The page renders the choices itself (labels, teams and columns of the Nexus)."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    label = forms.IntegerField(required=False, min_value=1)
    team = forms.IntegerField(required=False, min_value=1)
    column = forms.IntegerField(required=False, min_value=1)
    cos = forms.ChoiceField(
        required=False,
        choices=[("", "Any class of service"), *ClassOfService.choices],
        label="Class of service",
    )
    blocked = forms.ChoiceField(
        required=False, choices=[("", "Blocked or not"), ("yes", "Blocked"), ("no", "Not blocked")]
    )

    def filters(self) -> BacklogFilters:
        if not self.is_bound:
            return BacklogFilters()
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        blocked = {"yes": True, "no": False}.get(data.get("blocked") or "")
        return BacklogFilters(
            q=(data.get("q") or "").strip(),
            label=data.get("label"),
            team=data.get("team"),
            column=data.get("column"),
            cos=data.get("cos") or "",
            blocked=blocked,
        )


class MoveForm(forms.Form):
    """Where an item goes, one placement (the vocabulary of `pbi_move`, the same as the API's move):
    next to `before` and/or `after` (ids of neighbours), or to a `position` (1-based; "top" and
    "bottom" are accepted there too), or `top`, or `bottom`. `token` is the page's `backlog_token`;
    `loaded` how many rows the page shows (the answer re-renders that many when the page was stale);
    `refresh` asks for the re-rendered list in any case. Which placements are named, and that there
    is exactly one, is checked by the service (`DomainError` naming the field)."""

    before = forms.IntegerField(required=False, min_value=1)
    after = forms.IntegerField(required=False, min_value=1)
    position = forms.CharField(required=False, max_length=12)
    top = forms.BooleanField(required=False)
    bottom = forms.BooleanField(required=False)
    token = forms.CharField(required=False, max_length=64)
    loaded = forms.IntegerField(required=False, min_value=0)
    refresh = forms.BooleanField(required=False)

    def clean_position(self) -> int | str | None:
        raw = (self.cleaned_data.get("position") or "").strip().lower()
        if not raw:
            return None
        if raw in ("top", "bottom"):
            return raw
        if not raw.isdigit() or int(raw) < 1:
            raise forms.ValidationError("A position is a whole number from 1 (1 is the top).")
        return min(int(raw), BOTTOM)

    def placement(self) -> dict[str, Any]:
        """The cleaned placement as keywords of `pbi_move`."""
        data = self.cleaned_data
        position = data.get("position")
        return {
            "before_id": data.get("before"),
            "after_id": data.get("after"),
            "position": position if isinstance(position, int) else None,
            "top": bool(data.get("top")) or position == "top",
            "bottom": bool(data.get("bottom")) or position == "bottom",
        }

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return "Invalid move."


class PBICreateForm(forms.Form):
    """A new item's title and where it goes: the top, the bottom, or under another item (`under`)."""

    title = forms.CharField(max_length=300, label="Title")
    where = forms.ChoiceField(
        choices=[("top", "top"), ("bottom", "bottom"), ("under", "under")], initial="top"
    )
    under = forms.IntegerField(required=False, min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("where") == "under" and not data.get("under"):
            self.add_error("under", "Name the item to add this one under.")
        return data


def _label_names(raw: str) -> list[str]:
    return sorted({n.strip() for n in raw.split(",") if n.strip()})


class PBIEditForm(forms.Form):
    """The side panel's edit form. `version` is the item's version when the form was opened: saving
    fails with a conflict (showing both versions) if someone saved the item in the meantime."""

    title = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    acceptance_criteria = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    size = forms.DecimalField(required=False, min_value=0, max_value=99999, decimal_places=2)
    class_of_service = forms.ChoiceField(choices=ClassOfService.choices, label="Class of service")
    is_blocked = forms.BooleanField(required=False, label="Blocked")
    blocked_reason = forms.CharField(required=False, max_length=300, label="Why blocked")
    labels = forms.CharField(required=False, max_length=600, help_text="Comma-separated")
    teams = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Forecast Scrum Teams"
    )
    column = forms.TypedChoiceField(coerce=int, label="Column (Definition of Workflow)")
    product_goal = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        label="Product Goal",
        help_text="Link it to the Product Goal it serves (progress and forecast on the Nexus Sprint Review)",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    #: Fields compared field by field when a save conflicts.
    COMPARED = (
        "title",
        "description",
        "acceptance_criteria",
        "size",
        "class_of_service",
        "is_blocked",
        "blocked_reason",
        "labels",
    )

    def __init__(self, *args: Any, nexus: Nexus, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nexus = nexus
        self.teams_by_pk = {str(t.pk): t for t in ScrumTeam.objects.filter(nexus=nexus).order_by("name")}
        self.columns_by_pk = {
            c.pk: c for c in WorkflowColumn.objects.filter(nexus=nexus).order_by("position")
        }
        cast(forms.ChoiceField, self.fields["teams"]).choices = [
            (pk, t.name) for pk, t in self.teams_by_pk.items()
        ]
        cast(forms.ChoiceField, self.fields["column"]).choices = [
            (pk, c.name) for pk, c in self.columns_by_pk.items()
        ]
        self.goals_by_pk = {g.pk: g for g in ProductGoal.objects.filter(backlog__nexus=nexus)}
        cast(forms.ChoiceField, self.fields["product_goal"]).choices = [
            ("", "None"),
            *(
                (pk, g.text[:80] if g.status == GoalStatus.ACTIVE else f"{g.text[:60]} ({g.status})")
                for pk, g in self.goals_by_pk.items()
            ),
        ]

    @staticmethod
    def initial_for(item: ProductBacklogItem) -> dict[str, Any]:
        return {
            "title": item.title,
            "description": item.description,
            "acceptance_criteria": item.acceptance_criteria,
            "size": item.size,
            "class_of_service": item.class_of_service,
            "is_blocked": item.is_blocked,
            "blocked_reason": item.blocked_reason,
            "labels": ", ".join(lab.name for lab in item.labels.all()),
            "teams": [str(inv.team_id) for inv in item.involvements.all()],
            "column": item.column_id,
            "product_goal": item.product_goal_id,
            "version": item.version,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("blocked_reason") and not data.get("is_blocked"):
            self.add_error(
                "blocked_reason", "A reason is only kept for a blocked item: tick Blocked or clear it."
            )
        return data

    def item_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {name: data[name] for name in self.COMPARED if name != "labels"}
        if "product_goal" in data:
            goal_id = data["product_goal"]
            fields["product_goal"] = None if goal_id is None else self.goals_by_pk.get(goal_id)
        return fields

    def label_names(self) -> list[str]:
        return _label_names(self.cleaned_data.get("labels") or "")

    def selected_teams(self) -> list[ScrumTeam]:
        return [self.teams_by_pk[pk] for pk in self.cleaned_data.get("teams") or []]

    def selected_column(self) -> WorkflowColumn:
        return self.columns_by_pk[self.cleaned_data["column"]]

    def add_domain_error(self, exc: DomainError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, exc.message)


class GoalForm(forms.Form):
    """The Product Goal's text (set a new one, or edit the active one)."""

    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Product Goal")


class SplitForm(forms.Form):
    """Titles of the children to split an item into, one per line."""

    titles = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), label="Children, one title per line", max_length=20000
    )

    def title_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["titles"].splitlines() if line.strip()]
