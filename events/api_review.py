"""REST resource of the Nexus Sprint Review's stakeholder notes: `/api/v1/nexuses/{nexus_slug}/reviews/`.

Built like the other resources on `nexus_site.api` (a copy of `integration.api_issues`' shape): keyset
pages (`cursor`, `page_size`), `?updated_since=`, tombstones (`reviews/deleted/`), `ETag`/`If-Match` from
the note's `version`, `Idempotency-Key` on POST, examples in the OpenAPI document. Every member reads and
records feedback (Stakeholders give it); members but Stakeholders correct a note and link it to a PBI
(`edit_items`); who may make it a new PBI is the one rule on who creates PBIs (`create_items`,
`backlog.selectors.can_create_items`); the Product Owner and the Nexus Integration Team delete one
(`sprint_planning`). Every write goes through `events.services.review`.

- `reviews/`: list (oldest first; `sprint`, `outcome` filters), record; `reviews/{id}/`: get, PATCH, DELETE;
- `reviews/{id}/to-pbi/` (a new PBI from it), `reviews/{id}/link/` (link it to a PBI and change that
  PBI's title/description), `reviews/{id}/history/`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import ProductBacklogItem
from events.apps import REVIEW_NOTE_TOMBSTONE
from events.models import NoteOutcome, ReviewNote, ReviewNoteEntry, ReviewNoteEntryKind, Sprint
from events.services.common import SPRINT_PLANNING_RULE
from events.services.review import (
    STAKEHOLDER_MAX,
    TEXT_MAX,
    review_note_add,
    review_note_delete,
    review_note_edit,
    review_note_link,
    review_note_to_pbi,
)
from nexus_site.api.base import (
    PAGE_PARAMS,
    HistoryOrderingMixin,
    NexusScopedViewSet,
    StrictFilterSet,
    TombstonesMixin,
    UpdatedSinceFilter,
    VersionedReadMixin,
    tombstones_schema,
    updated_since_param,
)
from nexus_site.api.etag import if_match_version, versioned_response
from nexus_site.api.fields import NexusRefField, StrictCharField, StrictIntegerField, StrictSerializer
from nexus_site.api.permissions import CREATE_ITEMS, EDIT_ITEMS, VIEW
from nexus_site.api.schema import ETAG_HEADER, IF_MATCH, conflict, precondition, retrieve_with_etag

PRECONDITION = precondition("the review note")

NOTE_EXAMPLE = {
    "id": 17,
    "sprint": 26,
    "text": "Could the quick fix also offer a default case when the switch cannot be exhaustive?",
    "stakeholder": "Release engineering",
    "author": "po",
    "at": "2025-03-14T14:00:00.000000Z",
    "outcome": "new_pbi",
    "item": 7512,
    "acted_at": "2025-03-14T14:02:00.000000Z",
    "version": 2,
    "updated_at": "2025-03-14T14:02:00.000000Z",
}

OUTCOME_CONFLICT = conflict(
    "The note has an outcome already (`outcome`: made into a PBI or linked to one: it is history), the "
    "Sprint has not started (`sprint`), or an `Idempotency-Key` in progress.",
    "This feedback was made into a new pbi already (PBI 7512): it is history. Record a new note for new "
    "feedback.",
    "outcome",
)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Made into a PBI", value=NOTE_EXAMPLE, response_only=True, status_codes=["200", "201"])
    ]
)
class ReviewNoteSerializer(serializers.ModelSerializer):
    """Stakeholder feedback recorded at a Sprint's Nexus Sprint Review. `sprint` is the Sprint's id;
    `stakeholder` who gave it (free text), `author` the member who recorded it (username), `at` when
    (UTC). `outcome`: `open`, `new_pbi` (a PBI was created from it) or `changed_pbi` (an existing PBI was
    changed because of it); `item` is that PBI's id (null while open, or once the PBI is deleted for
    good), `acted_at` when. `version` is the `ETag` (send it in `If-Match`)."""

    author: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    outcome = serializers.ChoiceField(choices=NoteOutcome.choices, read_only=True)

    class Meta:
        model = ReviewNote
        fields = [
            "id",
            "sprint",
            "text",
            "stakeholder",
            "author",
            "at",
            "outcome",
            "item",
            "acted_at",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class NoteCreateSerializer(StrictSerializer):
    sprint = NexusRefField(
        model=Sprint, scope="nexus", help_text="The Sprint reviewed (id): active or closed"
    )
    text = StrictCharField(max_length=TEXT_MAX, help_text="The feedback, as given")
    stakeholder = StrictCharField(
        max_length=STAKEHOLDER_MAX, required=False, allow_blank=True, help_text="Who gave it (a name or role)"
    )


class NoteUpdateSerializer(StrictSerializer):
    """Send only what changes (an open note only)."""

    text = StrictCharField(max_length=TEXT_MAX, required=False)
    stakeholder = StrictCharField(max_length=STAKEHOLDER_MAX, required=False, allow_blank=True)


class NoteToPbiSerializer(StrictSerializer):
    """The new PBI's `title` (default: the note's first line) and `description` (default: the note with
    who gave it and at which Sprint's review)."""

    title = StrictCharField(max_length=300, required=False, allow_blank=True)
    description = StrictCharField(max_length=100_000, required=False, allow_blank=True, trim_whitespace=False)


class NoteLinkSerializer(StrictSerializer):
    """The PBI the feedback changes (`item`, an id of this Nexus) and, optionally, its new `title` and
    `description` (saved through the one PBI update service; `item_version` is that PBI's `If-Match`)."""

    item = NexusRefField(
        model=ProductBacklogItem, scope="backlog__nexus", alive=True, help_text="The PBI's id"
    )
    title = StrictCharField(max_length=300, required=False, help_text="The PBI's new title")
    description = StrictCharField(
        max_length=100_000,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Its new description",
    )
    item_version = StrictIntegerField(
        min_value=1, required=False, help_text="The PBI's version you read: 412 if it changed since"
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Linked to a PBI",
            value={
                "id": 55,
                "kind": "linked",
                "actor": "po",
                "at": "2025-03-14T14:09:00.000000Z",
                "data": {"item": 4711, "fields": ["description"]},
            },
            response_only=True,
        )
    ]
)
class ReviewNoteEntrySerializer(serializers.ModelSerializer):
    """A row of the note's history (append-only): `kind` `added`, `edited` (`data`: each changed field's
    `[before, after]`), `new_pbi` or `linked` (`data`: `{"item", "fields"}`, the PBI's fields changed in
    the same step); who (`actor`, a username) and when (`at`, UTC)."""

    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    kind = serializers.ChoiceField(choices=ReviewNoteEntryKind.choices, read_only=True)

    class Meta:
        model = ReviewNoteEntry
        fields = ["id", "kind", "actor", "at", "data"]
        read_only_fields = fields


class ReviewNoteFilter(StrictFilterSet):
    sprint = django_filters.NumberFilter(
        field_name="sprint_id", help_text="Only the notes of this Sprint (id)"
    )
    outcome = django_filters.ChoiceFilter(
        choices=NoteOutcome.choices, help_text="Only notes with this outcome"
    )

    class Meta:
        model = ReviewNote
        fields = ["sprint", "outcome"]


def _response(request: Request, note: ReviewNote, *, code: int = 200) -> Response:
    note = ReviewNote.objects.select_related("author", "nexus").get(pk=note.pk)
    return versioned_response(
        request, note, ReviewNoteSerializer(note).data, detail="api:review-note-detail", code=code
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the stakeholder notes of the Nexus Sprint Reviews (oldest first; sync order with "
        "updated_since)",
        description="Every Sprint's notes; `sprint` and `outcome` narrow the list. Deleted notes are in "
        "`reviews/deleted/`.",
    ),
    retrieve=retrieve_with_etag("a review note", ReviewNoteSerializer),
    create=extend_schema(
        summary="Record stakeholder feedback at a Sprint's review (every member)",
        description="The Sprint must be active or closed (a planned Sprint: 409 naming `sprint`). Fires "
        "`review_note.added`.",
        request=NoteCreateSerializer,
        responses={201: ReviewNoteSerializer, 409: OUTCOME_CONFLICT},
        parameters=[ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Feedback on the increment",
                request_only=True,
                value={
                    "sprint": 26,
                    "text": "Search results should show where a record component is used.",
                    "stakeholder": "Adopter: IDE vendor",
                },
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Correct an open note (members but Stakeholders)",
        description="Send only what changes. A note with an outcome is history (409 `outcome`). With "
        "`If-Match`, 412 if it changed since you read it.",
        request=NoteUpdateSerializer,
        responses={200: ReviewNoteSerializer, 409: OUTCOME_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[OpenApiExample("Who said it", request_only=True, value={"stakeholder": "Eclipse PMC"})],
    ),
    destroy=extend_schema(
        summary="Delete a note recorded by mistake (Product Owner, Nexus Integration Team)",
        description="Its history goes with it; a PBI made from it stays; a tombstone is left for sync.",
        parameters=[IF_MATCH],
        responses={204: None, 412: PRECONDITION},
    ),
    deleted=tombstones_schema("review notes"),
)
class ReviewNoteViewSet(VersionedReadMixin, HistoryOrderingMixin, TombstonesMixin, NexusScopedViewSet):
    """`/api/v1/nexuses/{nexus_slug}/reviews/`."""

    model = ReviewNote
    serializer_class = ReviewNoteSerializer
    filterset_class = ReviewNoteFilter
    sync_field = "updated_at"
    tombstone_kind = REVIEW_NOTE_TOMBSTONE
    rules: ClassVar[dict[str, str]] = {
        "create": VIEW,
        "partial_update": EDIT_ITEMS,
        "link": EDIT_ITEMS,
        "to_pbi": CREATE_ITEMS,
        "destroy": SPRINT_PLANNING_RULE,
    }
    action_query_params: ClassVar[dict[str, tuple[str, ...]]] = {
        "history": (UpdatedSinceFilter.param, *PAGE_PARAMS),
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self) -> QuerySet[ReviewNote]:
        return ReviewNote.objects.filter(nexus=self.nexus).select_related("author")

    def _note(self) -> ReviewNote:
        return ReviewNote.objects.select_related("nexus", "sprint").get(pk=self.get_object().pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = NoteCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        note = review_note_add(
            sprint=v["sprint"], text=v["text"], stakeholder=v.get("stakeholder", ""), actor=request.user
        )
        return _response(request, note, code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        note = self._note()
        expected = if_match_version(request)
        data = NoteUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        note = review_note_edit(
            note=note, actor=request.user, expected_version=expected, **data.validated_data
        )
        return _response(request, note)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        review_note_delete(note=self._note(), actor=request.user, expected_version=if_match_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Make an open note into a new PBI (who may create PBIs: members but Stakeholders)",
        description="Created through the one creation service: at the bottom of the Product Backlog, in the "
        "first column. Fires `review_note.acted`. A note with an outcome: 409 naming `outcome`.",
        request=NoteToPbiSerializer,
        responses={200: ReviewNoteSerializer, 409: OUTCOME_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "With a title",
                request_only=True,
                value={"title": "Quick fix: add a default case to a switch that cannot be exhaustive"},
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="to-pbi")
    def to_pbi(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        note = self._note()
        expected = if_match_version(request)
        data = NoteToPbiSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        note = review_note_to_pbi(
            note=note,
            actor=request.user,
            title=v.get("title", ""),
            description=v.get("description", ""),
            expected_version=expected,
        )
        return _response(request, note)

    @extend_schema(
        summary="Link an open note to the PBI it changes, and change that PBI (members but Stakeholders)",
        description="`title` and `description`, when sent, are saved on the PBI through the one update "
        "service in the same transaction (`item_version`: 412 if the PBI changed since you read it). "
        "Fires `review_note.acted`. A note with an outcome: 409 naming `outcome`.",
        request=NoteLinkSerializer,
        responses={200: ReviewNoteSerializer, 409: OUTCOME_CONFLICT, 412: PRECONDITION},
        parameters=[IF_MATCH, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "A PBI widened",
                request_only=True,
                value={
                    "item": 4711,
                    "description": "Also cover record components in the search results.",
                    "item_version": 7,
                },
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def link(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        note = self._note()
        expected = if_match_version(request)
        data = NoteLinkSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        item = v.pop("item")
        item_version = v.pop("item_version", None)
        note = review_note_link(
            note=note,
            item=item,
            actor=request.user,
            expected_version=expected,
            item_version=item_version,
            **v,
        )
        return _response(request, note)

    @extend_schema(
        summary="The note's history (typed, append-only)",
        description="Every write, oldest first. With `updated_since`, the rows recorded at or after it "
        "(`at`).",
        parameters=[updated_since_param("at")],
        responses={200: ReviewNoteEntrySerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        note = self.get_object()
        rows = ReviewNoteEntry.objects.filter(note=note).select_related("actor")
        page = self.paginate_queryset(self.updated_since(rows, "at"))
        return self.get_paginated_response(ReviewNoteEntrySerializer(page, many=True).data)
