"""Confirming and dismissing suggested dependencies (`backlog.services.suggestions`) and one PBI's
suggestions (`backlog.suggestions.selectors`): dismissed pairs never come back, either way round;
confirming records the dependency at the event given; refusals name the field; constant queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.errors import Conflict, DomainError, NotAllowed
from backlog.models import Dependency, DependencyKind, FoundAt, Role, SuggestionDismissal
from backlog.services import pbi_create, pbi_delete
from backlog.services.suggestions import suggestion_confirm, suggestion_dismiss
from backlog.suggestions import index as suggestion_cache
from backlog.suggestions import selectors
from backlog.suggestions.selectors import suggested_dependencies_get
from tests.factories import member, nexus_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_index():
    cache.clear()
    suggestion_cache._local.clear()


def _area(nexus, n=3, word="Invoice"):
    return [
        pbi_create(nexus=nexus, title=f"{word} export to PDF part {i}", description=f"{word} PDF", actor=None)
        for i in range(n)
    ]


def _ids(nexus, item):
    return [s.item_id for s in suggested_dependencies_get(nexus_id=nexus.pk, item_id=item.pk)]


def test_a_dismissed_pair_is_never_suggested_again_either_way():
    nexus = nexus_build()
    a, b, c = _area(nexus)
    assert set(_ids(nexus, a)) == {b.pk, c.pk}
    po = User.objects.get(username=f"po-{nexus.slug}")
    first = suggestion_dismiss(item=a, other=b, actor=po)
    assert (first.item_low_id, first.item_high_id, first.dismissed_by) == (a.pk, b.pk, po)
    assert suggestion_dismiss(item=b, other=a, actor=None) == first  # idempotent, either way round
    assert SuggestionDismissal.objects.count() == 1
    assert _ids(nexus, a) == [c.pk]
    assert a.pk not in _ids(nexus, b)


def test_confirm_records_the_dependency_at_the_event_and_it_leaves_the_list():
    nexus = nexus_build()
    a, b, c = _area(nexus)
    dep = suggestion_confirm(item=a, other=b, actor=None, found_at=FoundAt.PLANNING)
    assert (dep.item_id, dep.depends_on_id, dep.found_at) == (a.pk, b.pk, FoundAt.PLANNING)
    assert b.pk not in _ids(nexus, a)
    assert a.pk not in _ids(nexus, b)
    other = suggestion_confirm(item=a, other=c, actor=None, confirm_as="dependent")
    assert (other.item_id, other.depends_on_id) == (c.pk, a.pk)
    both = suggestion_confirm(item=c, other=b, actor=None, confirm_as="integrates_with")
    assert both.kind == DependencyKind.INTEGRATES_WITH
    with pytest.raises(Conflict):  # b -> c -> a ... a -> b: the dependency service's cycle check
        suggestion_confirm(item=b, other=a, actor=None)
    with pytest.raises(DomainError) as bad:
        suggestion_confirm(item=a, other=c, actor=None, confirm_as="perhaps")
    assert bad.value.field == "confirm_as"
    assert Dependency.objects.count() == 3


def test_dismiss_refusals_name_the_field():
    nexus, elsewhere = nexus_build(), nexus_build()
    a, b, c = _area(nexus)
    theirs = pbi_create(nexus=elsewhere, title="Invoice export to PDF", actor=None)
    with pytest.raises(DomainError) as same:
        suggestion_dismiss(item=a, other=a, actor=None)
    assert same.value.field == "other"
    with pytest.raises(DomainError) as other_nexus:
        suggestion_dismiss(item=a, other=theirs, actor=None)
    assert other_nexus.value.field == "other"
    pbi_delete(item=c, actor=None)
    with pytest.raises(DomainError) as deleted:
        suggestion_dismiss(item=a, other=c, actor=None)
    assert deleted.value.field == "other"
    stakeholder = member(nexus, Role.STAKEHOLDER, username="sh-dismiss")
    with pytest.raises(NotAllowed):
        suggestion_dismiss(item=a, other=b, actor=stakeholder)
    assert not SuggestionDismissal.objects.exists()


def test_a_pbi_deleted_since_the_index_was_built_is_left_out(monkeypatch):
    nexus = nexus_build()
    a, b, _c = _area(nexus)
    index = suggestion_cache.suggestion_index_get(nexus_id=nexus.pk)
    pbi_delete(item=b, actor=None)
    # A reader served the index built before (a worker's rebuild still queued).
    monkeypatch.setattr(selectors, "suggestion_index_get", lambda **kw: index)
    assert b.pk not in [s.item_id for s in suggested_dependencies_get(nexus_id=nexus.pk, item_id=a.pk)]


def test_queries_do_not_grow_with_the_nexus():
    small, big = nexus_build(), nexus_build()
    few_items = _area(small, 3)
    many_items = _area(big, 60, word="Invoice")
    suggestion_dismiss(item=many_items[0], other=many_items[1], actor=None)
    suggestion_confirm(item=many_items[0], other=many_items[2], actor=None)
    for nexus, items in ((small, few_items), (big, many_items)):
        suggested_dependencies_get(nexus_id=nexus.pk, item_id=items[0].pk)  # builds the index
    with CaptureQueriesContext(connection) as few:
        suggested_dependencies_get(nexus_id=small.pk, item_id=few_items[0].pk)
    with CaptureQueriesContext(connection) as many:
        found = suggested_dependencies_get(nexus_id=big.pk, item_id=many_items[0].pk, limit=10)
    assert len(found) == 10
    assert len(few.captured_queries) == len(many.captured_queries) == 4
