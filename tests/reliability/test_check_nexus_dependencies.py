"""`check_nexus` and the dependencies' tombstones: a removed dependency keeps its row (its log and
history stay) and leaves a `dependency` tombstone for sync clients; the check accepts that tombstone, and
names a removed dependency that has none (a deleted synced row with no tombstone)."""

from __future__ import annotations

import pytest

from backlog.models_api import Tombstone
from backlog.models_dependency import Dependency, DependencyStatus
from backlog.services import pbi_create
from backlog.services.dependencies import DEPENDENCY_TOMBSTONE, dependency_create, dependency_set_status
from tests.factories import nexus_build
from tests.reliability.test_check_nexus import run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def removed():
    nexus = nexus_build(slug="deps-checked")
    a = pbi_create(nexus=nexus, title="A", actor=None)
    b = pbi_create(nexus=nexus, title="B", actor=None)
    c = pbi_create(nexus=nexus, title="C", actor=None)
    dependency_create(item=a, depends_on=b, actor=None)
    gone = dependency_create(item=b, depends_on=c, actor=None)
    dependency_set_status(dependency=gone, status=DependencyStatus.REMOVED, actor=None)
    return nexus, gone


def test_a_removed_dependency_with_its_tombstone_passes(removed):
    code, out = run("--nexus", "deps-checked")
    assert code == 0, out
    assert "[ok] tombstones" in out


def test_a_removed_dependency_without_a_tombstone_is_named(removed):
    _, gone = removed
    Tombstone.objects.filter(kind=DEPENDENCY_TOMBSTONE, object_id=gone.pk).delete()
    code, out = run("--nexus", "deps-checked")
    assert code == 1, out
    assert f"dependency {gone.pk} is removed but has no tombstone" in out


def test_a_reopened_dependency_keeps_its_tombstone_and_passes(removed):
    _, gone = removed
    dependency_set_status(dependency=gone, status=DependencyStatus.OPEN, actor=None)
    code, out = run("--nexus", "deps-checked")
    assert code == 0, out


def test_a_tombstone_naming_a_dependency_never_removed_is_named(removed):
    nexus, gone = removed
    kept = Dependency.objects.exclude(pk=gone.pk).get(nexus_id=nexus.pk)
    Tombstone.objects.create(nexus_id=nexus.pk, kind=DEPENDENCY_TOMBSTONE, object_id=kept.pk)
    code, out = run("--nexus", "deps-checked")
    assert code == 1, out
    assert f"tombstone dependency {kept.pk}: the row still exists and was never removed" in out
