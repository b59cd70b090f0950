"""Dependencies between PBIs (`backlog.services.dependencies`): every rule of issue 12's services."""

from __future__ import annotations

import time

import pytest

from backlog.errors import Conflict, DomainError, NotAllowed, PreconditionFailed
from backlog.models import (
    Dependency,
    DependencyChange,
    DependencyKind,
    DependencyStatus,
    ProductBacklogItem,
    Role,
)
from backlog.models_api import Tombstone, WebhookDelivery
from backlog.selectors import nexus_change_seq
from backlog.services import pbi_create, pbi_delete
from backlog.services.dependencies import (
    DEPENDENCY_TOMBSTONE,
    cycle_path,
    dependency_create,
    dependency_remove,
    dependency_reopen,
    dependency_resolve,
    dependency_set_status,
)
from backlog.services.split import pbi_split
from backlog.services.webhooks import webhook_create
from tests.factories import member, nexus_build, team

pytestmark = pytest.mark.django_db


def _items(nexus, n):
    return [pbi_create(nexus=nexus, title=f"PBI {i}", actor=None) for i in range(n)]


def test_create_logs_counts_and_reads_back():
    nexus = nexus_build()
    a, b = _items(nexus, 2)
    before = nexus_change_seq(nexus_id=nexus.pk)
    dep = dependency_create(item=a, depends_on=b, actor=None, found_at="planning")
    assert (dep.item_id, dep.depends_on_id, dep.status, dep.found_at) == (a.pk, b.pk, "open", "planning")
    assert nexus_change_seq(nexus_id=nexus.pk) == before + 1
    log = list(
        DependencyChange.objects.filter(dependency=dep).values_list("kind", "from_status", "to_status")
    )
    assert log == [("created", "", "open")]


def test_integrates_with_is_symmetric_and_stored_in_order():
    nexus = nexus_build()
    a, b = _items(nexus, 2)
    dep = dependency_create(item=b, depends_on=a, actor=None, kind=DependencyKind.INTEGRATES_WITH)
    assert (dep.item_id, dep.depends_on_id) == (a.pk, b.pk)
    with pytest.raises(Conflict) as exc:
        dependency_create(item=a, depends_on=b, actor=None, kind=DependencyKind.INTEGRATES_WITH)
    assert exc.value.field == "depends_on"


@pytest.mark.parametrize("case", ["itself", "other_nexus", "deleted_item", "deleted_target", "kind", "event"])
def test_refusals_name_the_field(case):
    nexus, other = nexus_build(), nexus_build()
    a, b = _items(nexus, 2)
    (x,) = _items(other, 1)
    kwargs = {"item": a, "depends_on": b, "actor": None}
    field = "depends_on"
    if case == "itself":
        kwargs["depends_on"] = a
    elif case == "other_nexus":
        kwargs["depends_on"] = x
    elif case == "deleted_item":
        pbi_delete(item=a, actor=None)
        field = "item"
    elif case == "deleted_target":
        pbi_delete(item=b, actor=None)
    elif case == "kind":
        kwargs["kind"], field = "blocks", "kind"
    else:
        kwargs["found_at"], field = "lunch", "found_at"
    with pytest.raises(DomainError) as exc:
        dependency_create(**kwargs)
    assert exc.value.field == field
    assert exc.value.message
    assert not Dependency.objects.exists()


def test_duplicate_is_a_conflict_but_after_removal_it_may_come_back():
    nexus = nexus_build()
    a, b = _items(nexus, 2)
    dep = dependency_create(item=a, depends_on=b, actor=None)
    with pytest.raises(Conflict):
        dependency_create(item=a, depends_on=b, actor=None)
    dependency_remove(dependency=dep, actor=None)
    again = dependency_create(item=a, depends_on=b, actor=None)
    assert again.pk != dep.pk
    with pytest.raises(Conflict):  # the removed one cannot be reopened while the new one lives
        dependency_reopen(dependency=dep, actor=None)


def test_an_edge_closing_a_cycle_is_refused_with_the_path():
    nexus = nexus_build()
    a, b, c = _items(nexus, 3)
    dependency_create(item=a, depends_on=b, actor=None)
    bc = dependency_create(item=b, depends_on=c, actor=None)
    with pytest.raises(Conflict) as exc:
        dependency_create(item=c, depends_on=a, actor=None)
    assert exc.value.field == "depends_on"
    assert f"#{c.pk} → #{a.pk} → #{b.pk} → #{c.pk}" in exc.value.message
    # Integration is symmetric and closes no cycle; a resolved edge no longer constrains.
    dependency_create(item=c, depends_on=a, actor=None, kind=DependencyKind.INTEGRATES_WITH)
    dependency_resolve(dependency=bc, actor=None)
    ca = dependency_create(item=c, depends_on=a, actor=None)
    with pytest.raises(Conflict):  # reopening b→c would close the cycle again
        dependency_reopen(dependency=bc, actor=None)
    assert ca.status == "open"


def test_cycle_path_pure_function():
    edges = [(1, 2), (2, 3), (3, 4)]
    assert cycle_path(edges, 4, 1) == [1, 2, 3, 4]
    assert cycle_path(edges, 1, 4) is None
    assert cycle_path(edges, 5, 5) == [5]
    big = [(i, i + 1) for i in range(2000)]
    start = time.perf_counter()
    assert cycle_path(big, 2000, 0) is not None
    assert time.perf_counter() - start < 1  # the bench row times it; this only guards a blow-up


def test_resolve_remove_reopen_log_tombstone_and_counter():
    nexus = nexus_build()
    a, b = _items(nexus, 2)
    dep = dependency_create(item=a, depends_on=b, actor=None)
    seq = nexus_change_seq(nexus_id=nexus.pk)
    dep = dependency_resolve(dependency=dep, actor=None, event="review")
    assert dep.status == "resolved"
    assert dep.resolved_at is not None
    dep = dependency_remove(dependency=dep, actor=None, reason="re-sliced")
    assert dep.status == "removed"
    assert Tombstone.objects.filter(kind=DEPENDENCY_TOMBSTONE, object_id=dep.pk, nexus_id=nexus.pk).exists()
    dep = dependency_reopen(dependency=dep, actor=None)
    assert dep.status == "open"
    assert dep.removed_at is None
    assert dep.version == 4
    assert nexus_change_seq(nexus_id=nexus.pk) == seq + 3
    kinds = list(DependencyChange.objects.filter(dependency=dep).values_list("kind", "to_status", "reason"))
    assert kinds == [
        ("created", "open", ""),
        ("resolved", "resolved", ""),
        ("removed", "removed", "re-sliced"),
        ("reopened", "open", ""),
    ]
    same = dependency_reopen(dependency=dep, actor=None)  # no change, nothing logged
    assert same.version == 4
    with pytest.raises(PreconditionFailed):
        dependency_resolve(dependency=dep, actor=None, expected_version=3)
    with pytest.raises(DomainError) as exc:
        dependency_set_status(dependency=dep, status="gone", actor=None)
    assert exc.value.field == "status"


def test_append_only_log():
    nexus = nexus_build()
    a, b = _items(nexus, 2)
    dependency_create(item=a, depends_on=b, actor=None)
    row = DependencyChange.objects.get()
    row.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        row.save()


def test_who_may_add_and_who_may_resolve():
    nexus = nexus_build(teams=3)
    ta, tb, tc = team(nexus, "Team A"), team(nexus, "Team B"), team(nexus, "Team C")
    a = pbi_create(nexus=nexus, title="A", actor=None, teams=[ta])
    b = pbi_create(nexus=nexus, title="B", actor=None, teams=[tb])
    stakeholder = member(nexus, Role.STAKEHOLDER, username="sam")
    dev_a = member(nexus, Role.DEVELOPER, username="ada", team_obj=ta)
    dev_b = member(nexus, Role.DEVELOPER, username="bea", team_obj=tb)
    dev_c = member(nexus, Role.DEVELOPER, username="cid", team_obj=tc)
    nit = member(nexus, Role.NIT_MEMBER, username="nia")
    with pytest.raises(NotAllowed):
        dependency_create(item=a, depends_on=b, actor=stakeholder)
    dep = dependency_create(item=a, depends_on=b, actor=dev_c)  # any non-Stakeholder member adds
    assert dep.found_by == dev_c
    with pytest.raises(NotAllowed):  # Team C is on neither side
        dependency_resolve(dependency=dep, actor=dev_c)
    with pytest.raises(NotAllowed):
        dependency_remove(dependency=dep, actor=stakeholder)
    dependency_resolve(dependency=dep, actor=dev_b)  # the side depended on
    dependency_reopen(dependency=dep, actor=dev_a)  # the dependent side
    dependency_remove(dependency=dep, actor=nit)
    po = nexus.memberships.get(role=Role.PRODUCT_OWNER).user
    dependency_reopen(dependency=dep, actor=po)


def test_deleting_a_pbi_removes_its_dependencies_with_tombstones():
    nexus = nexus_build()
    a, b, c = _items(nexus, 3)
    ab = dependency_create(item=a, depends_on=b, actor=None)
    cb = dependency_create(item=c, depends_on=b, actor=None)
    bc = dependency_create(item=b, depends_on=c, actor=None, kind=DependencyKind.INTEGRATES_WITH)
    pbi_delete(item=b, actor=None)
    for dep in (ab, cb, bc):
        dep.refresh_from_db()
        assert dep.status == DependencyStatus.REMOVED
        assert DependencyChange.objects.filter(dependency=dep, kind="removed", reason="PBI deleted").exists()
    assert Tombstone.objects.filter(kind=DEPENDENCY_TOMBSTONE).count() == 3
    with pytest.raises(Conflict):
        dependency_reopen(dependency=ab, actor=None)


def test_split_carries_open_dependencies_to_the_chosen_children():
    nexus = nexus_build()
    parent, b, c, d = _items(nexus, 4)
    out = dependency_create(item=parent, depends_on=b, actor=None)
    inn = dependency_create(item=c, depends_on=parent, actor=None)
    resolved = dependency_create(item=parent, depends_on=d, actor=None)
    dependency_resolve(dependency=resolved, actor=None)
    kids = pbi_split(item=parent, titles=["one", "two", "three"], actor=None, dependencies={inn.pk: [1]})
    out.refresh_from_db()
    inn.refresh_from_db()
    assert out.status == inn.status == "removed"
    live = set(Dependency.objects.filter(status="open").values_list("item_id", "depends_on_id"))
    assert live == {(k.pk, b.pk) for k in kids} | {(c.pk, kids[1].pk)}
    carried = DependencyChange.objects.filter(kind="carried")
    assert carried.count() == 4
    assert {r.origin_id for r in carried} == {out.pk, inn.pk}
    resolved.refresh_from_db()
    assert resolved.status == "resolved"
    assert resolved.item_id == parent.pk


def test_split_with_no_child_chosen_keeps_it_and_bad_choices_are_refused():
    nexus = nexus_build()
    parent, b = _items(nexus, 2)
    dep = dependency_create(item=parent, depends_on=b, actor=None)
    with pytest.raises(DomainError) as exc:
        pbi_split(item=parent, titles=["x"], actor=None, dependencies={dep.pk: [5]})
    assert exc.value.field == "dependencies"
    assert ProductBacklogItem.objects.filter(parent=parent).count() == 0  # nothing half-saved
    pbi_split(item=parent, titles=["x"], actor=None, dependencies={dep.pk: []})
    dep.refresh_from_db()
    assert dep.status == "open"


def test_webhook_events_are_recorded(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    nexus = nexus_build()
    a, b = _items(nexus, 2)
    webhook_create(
        nexus=nexus,
        url="https://hooks.example.com/x",
        events=["dependency.created", "dependency.resolved", "dependency.removed"],
        actor=None,
    )
    dep = dependency_create(item=a, depends_on=b, actor=None)
    dependency_resolve(dependency=dep, actor=None)
    dependency_remove(dependency=dep, actor=None)
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == ["dependency.created", "dependency.resolved", "dependency.removed"]
    body = WebhookDelivery.objects.order_by("id")[0].payload
    assert body["dependency"]["item"] == a.pk
    assert body["dependency"]["depends_on"] == b.pk
