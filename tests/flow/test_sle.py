"""Service Level Expectation: the default (85th percentile of the last 90 days' Cycle Times), a set
percentage or days, per Nexus and per team; who may set it; the settings page; the board's age bands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backlog.errors import DomainError, NotAllowed
from backlog.models import ProductBacklogItem, Role, ScrumTeam
from backlog.services import pbi_update
from events.selectors import board_get
from flow.models import FlowSettings, FlowState
from flow.selectors import SLE, age_band, sles_get
from flow.services import flow_recompute, flow_settings_set
from tests.factories import UserFactory, member
from tests.flow.builders import d, history_nexus

pytestmark = pytest.mark.django_db


def _finished(ct: int, finish: int) -> list:
    return [(d(finish - ct), "Backlog"), (d(finish - ct + 1), "Doing"), (d(finish), "Done")]


@pytest.fixture
def recent(tmp_path):
    """As of d120 the 90-day window is d31..d120: ten items finish on d100 with Cycle Times 1..10; an
    item finished on d20 (Cycle Time 20) is older and does not count; one of UI finishes on d110."""
    items = {f"K{ct}": ("Core", "", _finished(ct, 100)) for ct in range(1, 11)}
    items["OLD"] = ("Core", "", _finished(20, 20))
    items["U1"] = ("UI", "", _finished(40, 110))
    nexus = history_nexus(tmp_path, items)
    flow_recompute(nexus_id=nexus.pk, as_of=d(120))
    return nexus


def test_default_is_the_85th_percentile_of_the_last_90_days(recent):
    sles, _ = sles_get(nexus=recent)
    # Nexus: Cycle Times 1..10 and 40 (n = 11): rank ceil(0.85 * 11) = 10 -> 10; 50th: rank 6 -> 6.
    assert sles[None] == SLE(85, 10, 6, is_set=False)
    core = ScrumTeam.objects.get(nexus=recent, name="Core")
    assert sles[core.pk] == SLE(85, 9, 5, is_set=False)  # 1..10: rank 9 -> 9; the d20 item is too old
    assert FlowState.objects.get(nexus=recent).summary["sle_default_days"] == 10
    assert sles[None].text == "85% of items finish within 10 days"


def test_set_percentage_days_and_per_team(recent):
    member_po = member(recent, Role.PRODUCT_OWNER, username="owner")
    core = ScrumTeam.objects.get(nexus=recent, name="Core")
    flow_settings_set(nexus=recent, team=None, actor=member_po, sle_percent=50, sle_days=None)
    sles, _ = sles_get(nexus=recent)
    assert sles[None] == SLE(50, 6, 6, is_set=False)  # the 50th percentile of the same Cycle Times
    flow_settings_set(nexus=recent, team=core, actor=member_po, sle_percent=95, sle_days=14)
    sles, rows = sles_get(nexus=recent)
    assert sles[core.pk] == SLE(95, 14, 5, is_set=True)
    assert sles[None].days == 6  # the Nexus's is its own
    assert rows[core.pk].updated_by == member_po
    # Setting again updates the same row.
    flow_settings_set(nexus=recent, team=core, actor=member_po, sle_percent=85, sle_days=None)
    assert FlowSettings.objects.filter(nexus=recent, team=core).count() == 1
    assert sles_get(nexus=recent)[0][core.pk] == SLE(85, 9, 5)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.PRODUCT_OWNER, True),
        (Role.NIT_MEMBER, True),
        (Role.SCRUM_MASTER, False),
        (Role.DEVELOPER, False),
        (Role.STAKEHOLDER, False),
        (None, False),
        ("superuser", True),
    ],
)
def test_who_may_set_it(recent, role, allowed):
    team = ScrumTeam.objects.get(nexus=recent, name="Core")
    if role == "superuser":
        user = UserFactory.create(username="root", is_superuser=True)
    elif role is None:
        user = UserFactory.create(username="outsider")
    else:
        user = member(
            recent,
            role,
            username="someone",
            team_obj=team if role in (Role.DEVELOPER, Role.SCRUM_MASTER) else None,
        )
    if allowed:
        flow_settings_set(nexus=recent, team=team, actor=user, sle_percent=85, sle_days=7)
        assert FlowSettings.objects.get(nexus=recent, team=team).sle_days == 7
    else:
        with pytest.raises(NotAllowed):
            flow_settings_set(nexus=recent, team=team, actor=user, sle_percent=85, sle_days=7)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"sle_percent": 0, "sle_days": 5}, "sle_percent"),
        ({"sle_percent": 101, "sle_days": 5}, "sle_percent"),
        ({"sle_percent": 85, "sle_days": 0}, "sle_days"),
        ({"sle_percent": 85, "sle_days": 5, "wip_limit_kind": "medium"}, "wip_limit_kind"),
    ],
)
def test_invalid_values_name_the_field(recent, values, field):
    owner = member(recent, Role.PRODUCT_OWNER, username="owner")
    with pytest.raises(DomainError) as exc:
        flow_settings_set(nexus=recent, team=None, actor=owner, **values)
    assert exc.value.field == field


def test_settings_page(client, recent):
    owner = member(recent, Role.PRODUCT_OWNER, username="owner")
    dev = member(
        recent, Role.DEVELOPER, username="dev", team_obj=ScrumTeam.objects.get(nexus=recent, name="UI")
    )
    url = reverse("flow:settings", args=[recent.slug])
    client.force_login(dev)
    html = client.get(url).content.decode()
    assert "85% of items finish within 10 days" in html
    assert "Only the Product Owner" in html
    assert (
        client.post(url, {"scope": "nexus", "nexus-sle_percent": "85", "nexus-sle_days": "3"}).status_code
        == 403
    )
    client.force_login(owner)
    bad = client.post(url, {"scope": "core", "core-sle_percent": "150", "core-wip_limit_kind": "soft"})
    assert bad.status_code == 400
    assert "Ensure this value is less than or equal to 100" in bad.content.decode()
    ok = client.post(
        url, {"scope": "core", "core-sle_percent": "90", "core-sle_days": "12", "core-wip_limit_kind": "hard"}
    )
    assert ok.status_code == 302
    row = FlowSettings.objects.get(nexus=recent, team__name="Core")
    assert (row.sle_percent, row.sle_days, row.wip_limit_kind) == (90, 12, "hard")
    assert "90% of items finish within 12 days" in client.get(url).content.decode()


def test_age_bands():
    assert age_band(3, p50=5, sle=9) == "ok"
    assert age_band(5, p50=5, sle=9) == "watch"
    assert age_band(9, p50=5, sle=9) == "watch"
    assert age_band(10, p50=5, sle=9) == "late"
    assert age_band(4, p50=None, sle=9) == "ok"
    assert age_band(4, p50=5, sle=None) == ""
    assert age_band(None, p50=5, sle=9) == ""


def test_board_colours_ages_against_the_sle_of_the_items_team(client, tmp_path):
    """Today-relative history: Core finished ten items in the last weeks with Cycle Times 1..10
    (50th percentile 5, SLE 9); X (age 2), Y (age 7) of Core and Z (age 12) of UI are in progress."""
    today = timezone.now().date()  # the Nexus counts days in UTC
    t0 = today - timedelta(days=60)

    def day(n: int):
        return t0 + timedelta(days=n - 1)

    items = {
        f"K{ct}": ("Core", "", [(day(40 - ct), "Backlog"), (day(41 - ct), "Doing"), (day(40), "Done")])
        for ct in range(1, 11)
    }
    items["X"] = ("Core", "", [(today - timedelta(days=3), "Backlog"), (today - timedelta(days=1), "Doing")])
    items["Y"] = ("Core", "", [(today - timedelta(days=9), "Backlog"), (today - timedelta(days=6), "Review")])
    items["Z"] = ("UI", "", [(today - timedelta(days=20), "Backlog"), (today - timedelta(days=11), "Doing")])
    nexus = history_nexus(tmp_path, items, slug="live")
    pbi_update(
        item=ProductBacklogItem.objects.get(external_id="Z"),
        actor=None,
        is_blocked=True,
        blocked_reason="waits for API",
    )
    flow_recompute(nexus_id=nexus.pk)

    def bands():
        board = board_get(nexus=nexus)
        return {c.item.external_id: (c.age, c.band) for bc in board.columns for c in bc.cards if c.age}

    # Z's team (UI) finished nothing: no SLE of its own, so the Nexus's (the same ten items) applies.
    assert bands() == {"X": (2, "ok"), "Y": (7, "watch"), "Z": (12, "late")}
    owner = member(nexus, Role.NIT_MEMBER, username="nit")
    flow_settings_set(nexus=nexus, team=None, actor=owner, sle_percent=85, sle_days=6)
    assert bands()["Y"] == (7, "watch")  # Y follows Core's own default SLE (9 days), not the Nexus's
    assert bands()["Z"] == (12, "late")
    core = ScrumTeam.objects.get(nexus=nexus, name="Core")
    flow_settings_set(nexus=nexus, team=core, actor=owner, sle_percent=85, sle_days=6)
    assert bands()["Y"] == (7, "late")
    client.force_login(owner)
    html = client.get(reverse("events:board", args=[nexus.slug])).content.decode()
    assert (
        'class="age age-late" title="Work Item Age: 7 calendar days; SLE: 85% of items finish within 6 days"'
        in html
    )
    assert 'class="age age-ok"' in html
    assert "waits for API" in html
    assert 'class="card is-blocked"' in html
