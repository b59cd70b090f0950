"""REST resource of a PBI's suggested dependencies:
`/api/v1/nexuses/{nexus_slug}/items/{item_id}/suggested-dependencies/`.

- `GET .../suggested-dependencies/`: the suggestions, best first, each with `why` (`?limit=`, 1 to 50,
  default 10). A ranked, computed list of at most 50: no keyset pages, no `updated_since` and no
  tombstones (nothing to sync: it is recomputed from the Product Backlog at every read, and a confirmed
  or dismissed pair leaves it);
- `POST .../suggested-dependencies/{id}/confirm/` (`id`: the suggested PBI): record the dependency,
  found now at the Nexus event `found_at` (`backlog.services.suggestions.suggestion_confirm`); answers
  201 with the dependency (as `dependencies/{id}/`), its `ETag` and `Location`;
- `POST .../suggested-dependencies/{id}/dismiss/`: never suggest that pair again (200, idempotent).

Every member reads; members other than Stakeholders confirm and dismiss (rule `create_items`, as adding a
dependency). `Idempotency-Key` is honoured on both POSTs. Writes go through the services only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.api.serializers_dependencies import EVENT_HELP, DependencySerializer
from backlog.api.views_dependencies import CONFLICT
from backlog.models import Dependency, FoundAt, ProductBacklogItem, Source
from backlog.services.suggestions import CONFIRM_AS, suggestion_confirm, suggestion_dismiss
from backlog.suggestions.engine import DEFAULT_LIMIT
from backlog.suggestions.selectors import SUGGESTIONS_MAX, SuggestedDependency, suggested_dependencies_get
from nexus_site.api import permissions as perms
from nexus_site.api.base import NexusScopedViewSet
from nexus_site.api.etag import etag
from nexus_site.api.fields import StrictCharField, StrictChoiceField, StrictSerializer
from nexus_site.api.schema import ETAG_HEADER

CONFIRM_AS_HELP = (
    "depends_on (default): this PBI depends on the suggested one; dependent: the suggested PBI depends on "
    "this one; integrates_with: the two must integrate together"
)

SUGGESTION_EXAMPLE = {
    "item": 4702,
    "title": "Formatter: support record patterns",
    "score": 0.41,
    "text_similarity": 0.52,
    "why": [
        "shared terms: record, patterns, formatter (text similarity 0.52)",
        "teams often involved together: Core and UI (4 PBIs)",
    ],
    "shared_terms": ["record", "patterns", "formatter"],
    "same_parent": False,
    "shared_labels": [],
    "teams_together": [{"team": 3, "other_team": 4, "pbis": 4}],
}


class SuggestionTeamsSerializer(serializers.Serializer):
    team = serializers.IntegerField(help_text="A Scrum Team of the PBI asked about (id)")
    other_team = serializers.IntegerField(help_text="A Scrum Team of the suggested PBI (id)")
    pbis = serializers.IntegerField(help_text="Live PBIs (finished ones included) that involve both teams")


class SuggestedDependencySerializer(serializers.Serializer):
    """A PBI suggested as a dependency of the PBI asked about, and why (Manning et al., "Introduction to
    Information Retrieval", ch. 6, for the TF-IDF text similarity; the weights are a documented heuristic:
    `score = 0.6 text + 0.2 same parent + 0.1 labels + 0.1 teams`, see `backlog.suggestions`)."""

    item = serializers.IntegerField(help_text="The suggested PBI (id)")
    title = serializers.CharField(help_text="Its title, as it is now")
    score = serializers.FloatField(help_text="In [0, 1]; the list is ordered by it, best first")
    text_similarity = serializers.FloatField(
        help_text="Cosine of the two PBIs' TF-IDF vectors (title, description, acceptance criteria), [0, 1]"
    )
    why = serializers.ListField(child=serializers.CharField(), help_text="The evidence, for people")
    shared_terms = serializers.ListField(
        child=serializers.CharField(), help_text="Terms contributing most to the text similarity, most first"
    )
    same_parent = serializers.BooleanField(help_text="Both were split from the same PBI")
    shared_labels = serializers.ListField(child=serializers.CharField(), help_text="Labels on both")
    teams_together = SuggestionTeamsSerializer(many=True, help_text="Strongest pair of teams first")


def _suggestion_data(found: SuggestedDependency) -> dict[str, Any]:
    s = found.suggestion
    return {
        "item": found.item_id,
        "title": found.title,
        "score": s.score,
        "text_similarity": s.text,
        "why": list(s.why),
        "shared_terms": list(s.shared_terms),
        "same_parent": s.same_parent,
        "shared_labels": list(s.shared_labels),
        "teams_together": [{"team": a, "other_team": b, "pbis": n} for a, b, n in s.teams_together],
    }


class SuggestionConfirmSerializer(StrictSerializer):
    """How to record a confirmed suggestion."""

    confirm_as = StrictChoiceField(
        choices=[(c, c) for c in CONFIRM_AS], required=False, default="depends_on", help_text=CONFIRM_AS_HELP
    )
    found_at = StrictChoiceField(
        choices=FoundAt.choices,
        required=False,
        default=FoundAt.REFINEMENT,
        help_text=f"Where it is confirmed: {EVENT_HELP}",
    )
    note = StrictCharField(max_length=300, required=False, default="", allow_blank=True)


class SuggestionDismissalSerializer(serializers.Serializer):
    """A dismissed pair: never suggested again, either way round."""

    item = serializers.IntegerField(help_text="The PBI asked about (id)")
    other = serializers.IntegerField(help_text="The suggested PBI dismissed (id)")
    dismissed_by = serializers.CharField(allow_null=True, help_text="Username (null: the system)")
    dismissed_at = serializers.DateTimeField(help_text="UTC")


LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": SUGGESTIONS_MAX},
    OpenApiParameter.QUERY,
    description=f"At most this many suggestions (default {DEFAULT_LIMIT})",
)


@extend_schema_view(
    list=extend_schema(
        summary="Suggested dependencies of a PBI, with why",
        description="The other open PBIs most likely to touch the same area (text similarity of title, "
        "description and acceptance criteria; same parent; shared labels; teams often involved together), "
        "best first. Left out: the PBI's parent and children, PBIs it already has a live dependency with, "
        "and pairs a person dismissed. A PBI finished, deleted or unknown to the index answers []. A "
        "bounded, ranked list (no pages, no sync). Every member reads.",
        parameters=[LIMIT],
        responses={200: SuggestedDependencySerializer(many=True)},
        examples=[OpenApiExample("One suggestion", value=SUGGESTION_EXAMPLE, response_only=True)],
    ),
    confirm=extend_schema(
        summary="Confirm a suggestion: it becomes a dependency",
        description="Found now by you at the Nexus event `found_at`. The rules of `POST dependencies/` "
        "apply: 400 naming the field for a PBI of another Nexus or deleted, 409 for a duplicate or a "
        "cycle. Members other than Stakeholders.",
        request=SuggestionConfirmSerializer,
        responses={201: DependencySerializer, 409: CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Confirmed at Cross-Team Refinement",
                request_only=True,
                value={"confirm_as": "depends_on", "found_at": "refinement"},
            ),
            OpenApiExample(
                "The suggested PBI waits on this one, found at Nexus Sprint Planning",
                request_only=True,
                value={"confirm_as": "dependent", "found_at": "planning", "note": "Same API"},
            ),
        ],
    ),
    dismiss=extend_schema(
        summary="Dismiss a suggestion: never suggested again",
        description="For this pair of PBIs, either way round. Idempotent (a dismissed pair answers its "
        "stored dismissal). Members other than Stakeholders.",
        request=None,
        responses={200: SuggestionDismissalSerializer},
        examples=[
            OpenApiExample(
                "Dismissed",
                response_only=True,
                value={
                    "item": 4711,
                    "other": 4702,
                    "dismissed_by": "dev-core",
                    "dismissed_at": "2025-03-04T10:15:02.114233Z",
                },
            )
        ],
    ),
)
class SuggestedDependencyViewSet(NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/items/{item_id}/suggested-dependencies/`."""

    model = ProductBacklogItem
    serializer_class = SuggestedDependencySerializer
    sync_field = "updated_at"
    pagination_class = None
    filter_backends = []  # a ranked list: no filters, no `updated_since`
    rules: ClassVar[dict[str, str]] = {"confirm": perms.CREATE_ITEMS, "dismiss": perms.CREATE_ITEMS}
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {"list": ("limit",)}
    http_method_names = ["get", "post", "head", "options"]

    def base_queryset(self) -> QuerySet[ProductBacklogItem]:
        return ProductBacklogItem.objects.alive().filter(backlog__nexus=self.nexus)

    def _item(self) -> ProductBacklogItem:
        return get_object_or_404(self.base_queryset(), pk=self.kwargs["item_id"])

    def _other(self) -> ProductBacklogItem:
        return get_object_or_404(
            ProductBacklogItem.objects.filter(backlog__nexus=self.nexus), pk=self.kwargs["id"]
        )

    def _limit(self) -> int:
        raw = self.request.query_params.get("limit")
        if raw is None:
            return DEFAULT_LIMIT
        if not raw.isdigit() or not 1 <= int(raw) <= SUGGESTIONS_MAX:
            raise exceptions.ValidationError(
                {"limit": [f"Enter a whole number from 1 to {SUGGESTIONS_MAX}."]}
            )
        return int(raw)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self._item()
        limit = self._limit()
        found = suggested_dependencies_get(nexus_id=self.nexus.pk, item_id=item.pk, limit=limit)
        return Response(SuggestedDependencySerializer([_suggestion_data(f) for f in found], many=True).data)

    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item, other = self._item(), self._other()
        data = SuggestionConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dependency = suggestion_confirm(
            item=item,
            other=other,
            confirm_as=values["confirm_as"],
            found_at=values["found_at"],
            note=values["note"],
            actor=request.user,
            source=Source.API,
        )
        fresh = (
            Dependency.objects.select_related("found_by")
            .prefetch_related("item__involvements", "depends_on__involvements")
            .get(pk=dependency.pk)
        )
        response = Response(
            DependencySerializer(fresh).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": etag(fresh.version)},
        )
        response["Location"] = request.build_absolute_uri(
            reverse("api:dependency-detail", args=[self.nexus.slug, fresh.pk])
        )
        return response

    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item, other = self._item(), self._other()
        dismissal = suggestion_dismiss(item=item, other=other, actor=request.user)
        body = {
            "item": item.pk,
            "other": other.pk,
            "dismissed_by": dismissal.dismissed_by.username if dismissal.dismissed_by else None,
            "dismissed_at": dismissal.dismissed_at,
        }
        return Response(SuggestionDismissalSerializer(body).data)
