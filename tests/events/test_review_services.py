"""The Nexus Sprint Review's services (`events.services.review`) and the PBI's link to the Product Goal
(`backlog.services.items.pbi_product_goal_set`, through `pbi_update`): who may do what, the typed history,
the outcome recorded once, bad input naming the field, nothing half-saved."""

from __future__ import annotations

import pytest

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import ProductBacklogItem, Role, Transition
from backlog.models_api import WebhookDelivery
from backlog.services import goal_close, goal_create
from backlog.services.items import pbi_product_goal_set
from backlog.services.webhooks import webhook_create
from events.models import NoteOutcome, ReviewNote, ReviewNoteEntry
from events.services import sprint_close
from events.services.review import (
    review_note_add,
    review_note_delete,
    review_note_edit,
    review_note_link,
    review_note_to_pbi,
)
from tests.events.sprint_helpers import items, sprint_build
from tests.factories import UserFactory, member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def nx():
    return nexus_build(items=4)


@pytest.fixture
def sprint(nx):
    return sprint_build(nx, planned=items(nx)[:2], started=True)


def test_add_edit_and_history(nx, sprint):
    sh = member(nx, Role.STAKEHOLDER, username="sh")
    dev = member(nx, Role.DEVELOPER, username="dev", team_obj=nx.teams.first())
    note = review_note_add(sprint=sprint, text="  Faster search please  ", stakeholder="Ops", actor=sh)
    assert (note.text, note.stakeholder, note.author, note.outcome, note.version) == (
        "Faster search please",
        "Ops",
        sh,
        NoteOutcome.OPEN,
        1,
    )
    with pytest.raises(NotAllowed):  # Stakeholders give feedback; members but them correct it
        review_note_edit(note=note, actor=sh, text="x")
    note = review_note_edit(note=note, actor=dev, text="Faster search, please", expected_version=1)
    assert note.version == 2
    same = review_note_edit(note=note, actor=dev, text="Faster search, please")
    assert same.version == 2  # changing nothing keeps the version
    with pytest.raises(PreconditionFailed):
        review_note_edit(note=note, actor=dev, stakeholder="Ops team", expected_version=1)
    kinds = list(ReviewNoteEntry.objects.filter(note=note).values_list("kind", "data"))
    assert kinds == [("added", {}), ("edited", {"text": ["Faster search please", "Faster search, please"]})]


@pytest.mark.parametrize(
    ("text", "stakeholder", "field"),
    [("   ", "", "text"), ("x" * 5001, "", "text"), ("ok", "y" * 151, "stakeholder")],
)
def test_bad_input_names_the_field(nx, sprint, text, stakeholder, field):
    with pytest.raises(DomainError) as exc:
        review_note_add(sprint=sprint, text=text, stakeholder=stakeholder, actor=None)
    assert exc.value.field == field
    assert not ReviewNote.objects.exists()


def test_a_planned_sprint_has_no_review_yet_and_outsiders_record_nothing(nx, sprint):
    planned = sprint_build(nx)
    with pytest.raises(Conflict) as exc:
        review_note_add(sprint=planned, text="Too early", actor=None)
    assert exc.value.field == "sprint"
    outsider = UserFactory.create(username="x")
    with pytest.raises(NotAllowed):
        review_note_add(sprint=sprint, text="Who am I", actor=outsider)


def test_to_pbi_goes_through_the_creation_service_and_its_rule(nx, sprint):
    sh = member(nx, Role.STAKEHOLDER, username="sh")
    dev = member(nx, Role.DEVELOPER, username="dev", team_obj=nx.teams.first())
    note = review_note_add(
        sprint=sprint, text="Add a default case\nwhen not exhaustive", stakeholder="RE", actor=sh
    )
    before = ProductBacklogItem.objects.count()
    with pytest.raises(NotAllowed) as exc:  # `can_create_items`: Stakeholders do not add PBIs
        review_note_to_pbi(note=note, actor=sh)
    assert exc.value.field == "item"
    assert ProductBacklogItem.objects.count() == before
    note = review_note_to_pbi(note=note, actor=dev)
    item = note.item
    assert item is not None
    assert note.outcome == NoteOutcome.NEW_PBI
    assert note.acted_at is not None
    assert item.title == "Add a default case"
    assert "Stakeholder feedback (RE) at the Nexus Sprint Review of Sprint 1" in item.description
    assert Transition.objects.filter(item=item, kind="column", actor=dev).exists()  # logged as a creation
    with pytest.raises(Conflict) as again:
        review_note_to_pbi(note=note, actor=dev)
    assert again.value.field == "outcome"
    assert ProductBacklogItem.objects.count() == before + 1
    entry = ReviewNoteEntry.objects.filter(note=note).last()
    assert entry is not None
    assert (entry.kind, entry.data["item"]) == ("new_pbi", item.pk)


def test_a_refused_title_saves_nothing(nx, sprint):
    note = review_note_add(sprint=sprint, text="Some feedback", actor=None)
    before = ProductBacklogItem.objects.count()
    with pytest.raises(DomainError) as exc:
        review_note_to_pbi(note=note, actor=None, title="t" * 301)
    assert exc.value.field == "title"
    note.refresh_from_db()
    assert (note.outcome, note.version, ProductBacklogItem.objects.count()) == ("open", 1, before)


def test_link_changes_the_pbi_through_the_update_service(nx, sprint):
    dev = member(nx, Role.DEVELOPER, username="dev", team_obj=nx.teams.first())
    target = items(nx)[0]
    note = review_note_add(sprint=sprint, text="Cover records too", actor=None)
    with pytest.raises(PreconditionFailed):  # the PBI's If-Match: nothing saved
        review_note_link(note=note, item=target, actor=dev, title="New", item_version=target.version + 5)
    note.refresh_from_db()
    assert note.outcome == "open"
    note = review_note_link(
        note=note, item=target, actor=dev, description="Also records", item_version=target.version
    )
    target.refresh_from_db()
    assert (note.outcome, note.item_id, target.description) == ("changed_pbi", target.pk, "Also records")
    linked = ReviewNoteEntry.objects.filter(note=note).last()
    assert linked is not None
    assert linked.data == {
        "item": target.pk,
        "fields": ["description"],
    }
    other = nexus_build(items=1)
    foreign = items(other)[0]
    second = review_note_add(sprint=sprint, text="Again", actor=None)
    with pytest.raises(DomainError) as exc:
        review_note_link(note=second, item=foreign, actor=dev)
    assert exc.value.field == "item"


def test_delete_is_for_the_product_owner_and_nit_and_leaves_a_tombstone(nx, sprint):
    from backlog.models_api import Tombstone

    dev = member(nx, Role.DEVELOPER, username="dev", team_obj=nx.teams.first())
    note = review_note_add(sprint=sprint, text="Oops", actor=None)
    with pytest.raises(NotAllowed):
        review_note_delete(note=note, actor=dev)
    review_note_delete(note=note, actor=nx.memberships.get(role=Role.PRODUCT_OWNER).user)
    assert not ReviewNote.objects.exists()
    assert Tombstone.objects.filter(kind="review_note", object_id=note.pk).exists()


def test_a_closed_sprint_is_reviewed_and_webhooks_fire(nx, sprint):
    webhook_create(
        nexus=nx, url="http://127.0.0.1:9/hook", events=["review_note.added", "review_note.acted"], actor=None
    )
    sprint_close(sprint=sprint, actor=None, destinations={i.pk: "backlog" for i in items(nx)[:2]})
    note = review_note_add(sprint=sprint, text="After the close", actor=None)
    review_note_to_pbi(note=note, actor=None)
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == ["review_note.added", "review_note.acted"]
    last = WebhookDelivery.objects.order_by("id").last()
    assert last is not None
    assert last.payload["review_note"]["outcome"] == "new_pbi"


def test_product_goal_link_through_the_update_service(nx):
    goal = goal_create(nexus=nx, text="Ship it")
    item = items(nx)[0]
    result = pbi_product_goal_set(item=item, goal=goal, actor=None)
    assert (result.changed, result.item.product_goal_id, result.item.version) == (True, goal.pk, 2)
    again = pbi_product_goal_set(item=result.item, goal=goal, actor=None)
    assert (again.changed, again.item.version) == (False, 2)
    other = goal_create(nexus=nexus_build(), text="Theirs")
    with pytest.raises(DomainError) as exc:
        pbi_product_goal_set(item=item, goal=other, actor=None)
    assert exc.value.field == "product_goal"
    goal_close(goal=goal, status="achieved")
    second = items(nx)[1]
    with pytest.raises(DomainError) as closed:  # only the active goal takes new PBIs
        pbi_product_goal_set(item=second, goal=goal, actor=None)
    assert closed.value.field == "product_goal"
    assert pbi_product_goal_set(item=item, goal=None, actor=None).item.product_goal_id is None
