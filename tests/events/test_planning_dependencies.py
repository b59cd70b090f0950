"""Nexus Sprint Planning warns (never refuses) when a selected PBI depends on work no team selected:
not in the Sprint, not in the active one, not finished; both kinds of dependency, in one query."""

from __future__ import annotations

import pytest

from backlog.services import pbi_create
from backlog.services.dependencies import dependency_create, dependency_resolve
from events.selectors_sprints import planning_get
from events.services import sprint_create, sprint_plan
from tests.events.sprint_helpers import sprint_build, teams
from tests.factories import column, nexus_build, squares_fill

pytestmark = pytest.mark.django_db


def test_a_pbi_waiting_on_unselected_work_is_a_warning(django_assert_max_num_queries):
    nexus = nexus_build()
    a = teams(nexus)[0]

    def pbi(title: str, **kw):
        return pbi_create(nexus=nexus, title=title, actor=None, **kw)

    active_work = pbi("In the active Sprint")
    sprint_build(nexus, planned=[active_work], started=True)
    planned = sprint_create(nexus=nexus, actor=None, goal="Invoices")
    checkout, report, ledger = pbi("Checkout"), pbi("Report"), pbi("Ledger")
    for item in (checkout, report, ledger):
        sprint_plan(sprint=planned, item=item, teams=[a], actor=None)
    api, export, done = pbi("Invoice API"), pbi("Export"), pbi("Finished", teams=[a])
    squares_fill(done)
    from backlog.services import pbi_transition

    pbi_transition(item=done, to_column=column(nexus, "Done"), actor=None)
    dependency_create(item=checkout, depends_on=api, actor=None)  # nobody selected it: warned
    dependency_create(item=report, depends_on=active_work, actor=None)  # selected in the active Sprint
    dependency_create(item=report, depends_on=done, actor=None)  # finished already
    dependency_create(item=ledger, depends_on=checkout, actor=None)  # in this Sprint
    together = dependency_create(item=export, depends_on=ledger, actor=None, kind="integrates_with")
    resolved = dependency_create(item=checkout, depends_on=export, actor=None)
    dependency_resolve(dependency=resolved, actor=None)

    with django_assert_max_num_queries(20):
        plan = planning_get(nexus=nexus)
    ext = {i.pk: i.external_id or str(i.pk) for i in (checkout, api, ledger, export)}
    assert sorted(plan.waits_on_unselected) == sorted(
        [(ext[checkout.pk], ext[api.pk]), (ext[ledger.pk], ext[export.pk])]
    )
    assert together.item_id in (export.pk, ledger.pk)
    assert "2 selected PBIs depend on work no team selected" in " ".join(plan.warnings)
    # Selecting the awaited work takes the warning away.
    sprint_plan(sprint=planned, item=api, teams=[a], actor=None)
    sprint_plan(sprint=planned, item=export, teams=[a], actor=None)
    assert planning_get(nexus=nexus).waits_on_unselected == []
