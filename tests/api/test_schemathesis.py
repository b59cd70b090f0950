"""Schemathesis against the OpenAPI document on a live test server: every operation, positive and
negative examples (a bounded number each, deterministic), failing on any 5xx or any response that
the document does not describe (status code, content type, headers, body schema)."""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from backlog.models import (
    Dependency,
    Label,
    Membership,
    ProductBacklogItem,
    ProductGoal,
    Role,
    ScrumTeam,
    TeamColumn,
    TeamInvolvement,
    Transition,
    WorkflowColumn,
)
from backlog.models_api import Webhook, WebhookDelivery
from backlog.services import ItemChanges, goal_create, pbi_set_teams
from backlog.services.dependencies import dependency_create, dependency_resolve
from backlog.services.sync import pbi_upsert, token_create
from backlog.services.webhooks import webhook_create
from events.models import ImprovementAction, RetroItem, ReviewNote, Sprint, SprintItem
from events.services import sprint_close, sprint_create, sprint_plan, sprint_start
from events.services.retro import action_agree, action_set_status, retro_item_add
from events.services.review import review_note_add, review_note_to_pbi
from flow.models import FlowSettings
from flow.services import flow_settings_set
from integration.models import DoneCriterion, IntegratedIncrement
from integration.models_issues import IntegrationIssue
from integration.services_dod import criterion_add
from integration.services_increments import increment_create, increment_integrate
from integration.services_issues import issue_escalate, issue_raise, issue_resolve
from tests.factories import UserFactory, membership_add, nexus_build, squares_fill

MAX_EXAMPLES = 20
EXTERNAL_IDS = 10
USERS = 5
SEED = 20_251_121

#: Which rows an `{id}` of each resource picks from (so that examples reach real rows, not only 404s):
#: the model, and the lookup of its Nexus's slug (rows of the Nexuses a generated POST creates are no
#: use: under the test Nexus's slug they are 404s).
ROWS: dict[str, tuple[Any, str]] = {
    "items": (ProductBacklogItem, "backlog__nexus__slug"),
    "teams": (ScrumTeam, "nexus__slug"),
    "memberships": (Membership, "nexus__slug"),
    "goals": (ProductGoal, "backlog__nexus__slug"),
    "columns": (WorkflowColumn, "nexus__slug"),
    "involvements": (TeamInvolvement, "item__backlog__nexus__slug"),
    "transitions": (Transition, "item__backlog__nexus__slug"),
    "webhooks": (Webhook, "nexus__slug"),
    "labels": (Label, "nexus__slug"),
    "flow-settings": (FlowSettings, "nexus__slug"),
    "team-columns": (TeamColumn, "nexus__slug"),
    "sprints": (Sprint, "nexus__slug"),
    "definition-of-done": (DoneCriterion, "nexus__slug"),
    "increments": (IntegratedIncrement, "nexus__slug"),
    "dependencies": (Dependency, "nexus__slug"),
    "integration-issues": (IntegrationIssue, "nexus__slug"),
    "reviews": (ReviewNote, "nexus__slug"),
    "retrospectives/items": (RetroItem, "nexus__slug"),
    "retrospectives/actions": (ImprovementAction, "nexus__slug"),
}


def _ids(resource: str, slug: str) -> list[int]:
    """Up to 50 ids of the resource's rows in the Nexus `slug`, oldest first."""
    model, lookup = ROWS[resource]
    return list(model.objects.filter(**{lookup: slug}).order_by("id").values_list("id", flat=True)[:50])


@pytest.fixture
def api_schema(live_server, settings) -> Any:
    """The schema served by the live server, with the token of an administrator who is also the
    Nexus's Product Owner (every operation can succeed) and the Nexus's slug for `{nexus_slug}`."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    # Thousands of requests with one token: the conformance, not the API's limit, is under test.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None},
    }
    nexus = nexus_build(items=30)
    owner = UserFactory.create(username="st-admin", is_superuser=True)
    membership_add(nexus=nexus, user=owner, role=Role.NIT_MEMBER)
    goal_create(nexus=nexus, text="Fuzzed, not broken")
    for item in ProductBacklogItem.objects.filter(backlog__nexus=nexus)[:10]:
        pbi_set_teams(item=item, teams=list(nexus.teams.all()[:2]), actor=None)
    flow_settings_set(nexus=nexus, team=None, actor=owner, sle_percent=85, sle_days=10)
    for i in range(EXTERNAL_IDS):  # items a generated `{external_id}` can reach
        pbi_upsert(
            nexus=nexus,
            external_id=f"EXT-{i}",
            changes=ItemChanges(fields={"title": f"E{i}"}, labels=[f"label-{i % 3}"]),
            actor=None,
        )
    for port in range(9, 13):  # a few, so that a generated DELETE leaves some for the other operations
        webhook_create(
            nexus=nexus, url=f"http://127.0.0.1:{port}/closed", events=["item.deleted"], actor=None
        )
    # Sprints in every state (a closed one, the active one, two planned), with PBIs planned, so that
    # generated `{id}`s and `{item_id}`s reach real rows.
    teams = list(nexus.teams.order_by("name"))
    open_items = list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[10:22])
    closed = sprint_create(nexus=nexus, actor=None, goal="Done before")
    sprint_plan(sprint=closed, item=open_items[0], teams=teams[:1], actor=None)
    sprint_start(sprint=closed, actor=None)
    sprint_close(sprint=closed, actor=None, destinations={open_items[0].pk: "backlog"})
    active = sprint_create(nexus=nexus, actor=None, goal="Now", team_goals={teams[0].pk: "Ours"})
    for item in open_items[1:5]:
        sprint_plan(sprint=active, item=item, teams=teams[:2], actor=None)
    sprint_start(sprint=active, actor=None)
    for n in range(2):
        planned = sprint_create(nexus=nexus, actor=None)
        for item in open_items[5 + 3 * n : 8 + 3 * n]:
            sprint_plan(sprint=planned, item=item, teams=teams[1:2], actor=None)
    # A Definition of Done (the Nexus's and a team's) and two Integrated Increments of the active
    # Sprint, one with a PBI whose squares are filled, so that generated ids reach real rows.
    for text in ("Code reviewed", "Integration tests green"):
        criterion_add(nexus=nexus, text=text, actor=None)
    criterion_add(nexus=nexus, text="Screen-reader checked", team=teams[0], actor=None)
    first = increment_create(sprint=active, actor=None, name="First")
    squares_fill(open_items[1])
    increment_integrate(increment=first, item=open_items[1], actor=None)
    increment_create(sprint=active, actor=None, name="Second")
    # Dependencies (a chain, one resolved), so that generated `{id}`s reach real rows.
    chain = list(ProductBacklogItem.objects.filter(backlog__nexus=nexus).order_by("rank")[22:28])
    for a, b in itertools.pairwise(chain):
        dependency_create(item=a, depends_on=b, actor=None)
    dependency_resolve(dependency=Dependency.objects.filter(nexus=nexus).earliest("id"), actor=None)
    # Integration issues at every level, open and resolved, so that `{id}`s reach real rows.
    for n in range(8):
        issue = issue_raise(nexus=nexus, actor=owner, title=f"Issue {n}", teams=teams[:1]).issue
        for _ in range(n % 3):
            issue_escalate(issue=issue, actor=owner)
        if n == 7:
            issue_resolve(issue=issue, actor=owner, resolution="Gone")
    # Stakeholder notes of the closed and the active Sprint's reviews, open and acted on.
    for n, sprint in enumerate((closed, active, active, active)):
        note = review_note_add(sprint=sprint, text=f"Feedback {n}", stakeholder="Ops", actor=owner)
        if n == 1:
            review_note_to_pbi(note=note, actor=owner)
    # Retrospectives of the closed and the active Sprint: cross-team issues, team items, actions (one
    # done), so that `{id}`s reach real rows.
    for sprint in (closed, active):
        ct = retro_item_add(sprint=sprint, actor=owner, text=f"Build red in {sprint.number}")
        retro_item_add(sprint=sprint, actor=owner, text="Late merge", team=teams[0], cross_team_issue=ct)
        action = action_agree(sprint=sprint, actor=owner, title="Build every merge", owner=owner)
        action_agree(sprint=sprint, actor=owner, title="Pair on APIs", owner=owner, cross_team_issue=ct)
    action_set_status(action=action, actor=owner, status="done")
    for i in range(USERS):  # users a generated `username` can name
        UserFactory.create(username=f"st-user-{i}")
    _token, key = token_create(user=owner, name="schemathesis")
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": live_server.url,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "with-security-parameters": False,  # our token is the credential (checks still drop it)
            },
            # "Schema-valid data is accepted" cannot hold for ids of rows that do not exist, opaque
            # cursors or dates out of range: those are refused with a 4xx naming the field, by design.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", config=config)
    schema.nexus_slug = nexus.slug  # type: ignore[attr-defined]
    schema.auth_headers = {"Authorization": f"Token {key}"}  # type: ignore[attr-defined]
    return schema


def _real_ids(case: Any, slug: str) -> None:
    """Point the Nexus slug at the test Nexus and `{id}` at an existing row of the operation's
    resource, chosen by the generated value (one in four is kept: it must answer 404)."""
    params = case.path_parameters or {}
    if "nexus_slug" in params and zlib.crc32(str(params["nexus_slug"]).encode()) % 4 != 3:
        params["nexus_slug"] = slug
    ext = params.get("external_id")
    if isinstance(ext, str) and zlib.crc32(ext.encode("utf-8", "surrogatepass")) % 4 != 3:
        params["external_id"] = f"EXT-{zlib.crc32(ext.encode('utf-8', 'surrogatepass')) % EXTERNAL_IDS}"
    parts = case.operation.path.split("/")
    on_item = params.get("item_id")
    if isinstance(on_item, int) and parts[5:6] == ["items"] and on_item % 4 != 3:
        items = _ids("items", slug)  # `items/{item_id}/suggested-dependencies/`: a real PBI
        params["item_id"] = items[on_item % len(items)] if items else on_item
    generated = params.get("id")
    if not isinstance(generated, int) or generated % 4 == 3:
        return
    if len(parts) > 6 and parts[5] == "retrospectives":  # two resources under one prefix
        parts[5] = f"retrospectives/{parts[6]}"
    if len(parts) <= 5 or parts[5] not in ROWS:
        return
    ids = _ids(parts[5], slug)
    if ids:
        params["id"] = ids[generated % len(ids)]
    item_id = params.get("item_id")
    if isinstance(item_id, int) and parts[5] == "sprints" and item_id % 4 != 3:
        planned = list(
            SprintItem.objects.filter(sprint_id=params["id"]).order_by("id").values_list("item_id", flat=True)
        )
        if planned:
            params["item_id"] = planned[item_id % len(planned)]
    if "delivery_id" in params:
        delivery = (
            WebhookDelivery.objects.filter(webhook_id=params["id"]).values_list("id", flat=True).first()
        )
        if delivery is not None:
            params["delivery_id"] = delivery


#: Body fields that reference rows, and the resource their ids come from.
BODY_REFS = {
    "before": "items",
    "after": "items",
    "parent": "items",
    "item": "items",
    "depends_on": "items",
    "column": "columns",
    "team": "teams",
    "sprint": "sprints",
    "criterion": "definition-of-done",
    "product_goal": "goals",
    "cross_team_issue": "retrospectives/items",
}


def _real_refs(case: Any, slug: str) -> None:
    """In a positive case, point references in the body at rows of the test Nexus, chosen by the
    generated value (one in four kept): integer ids (`before`, `column`, `teams`...), a `username`,
    and in a bulk upsert each item's ids and `external_id` (an existing item needs no title)."""
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return

    def real(resource: str, generated: Any) -> Any:
        if not isinstance(generated, int) or isinstance(generated, bool) or generated % 4 == 3:
            return generated
        ids = _ids(resource, slug)
        return ids[generated % len(ids)] if ids else generated

    def kept(text: str) -> bool:
        return zlib.crc32(text.encode("utf-8", "surrogatepass")) % 4 == 3

    # A move on a team's board names a column of the square's team's board (`team-columns/`).
    move = case.operation.path.endswith("/involvements/{id}/move/")

    def refs(obj: dict[str, Any]) -> None:
        for key, resource in BODY_REFS.items():
            if key in obj and not (move and key == "column"):
                obj[key] = real(resource, obj[key])
        if isinstance(obj.get("teams"), list):
            obj["teams"] = [real("teams", t) for t in obj["teams"]]

    path_ext = (case.path_parameters or {}).get("external_id")
    if path_ext and isinstance(body.get("external_id"), str) and len(body["external_id"]) % 4 != 3:
        body["external_id"] = path_ext  # the body's, when sent, must be the path's
    # A dependency names two PBIs: the one-in-four unknown reference is decided by `item` alone (each
    # of the two kept on its own made 7 bodies in 16 name an unknown PBI, which with the dependency
    # rules' own refusals left the run's 400s around half, and whether an unknown id happened to be a
    # real PBI's depended on the tests that ran before in the same database).
    dep_item, dep_on = body.get("item"), body.get("depends_on")
    if (
        isinstance(dep_item, int)
        and isinstance(dep_on, int)
        and not isinstance(dep_item, bool)
        and not isinstance(dep_on, bool)
        and dep_on % 4 == 3
        and dep_item % 4 != 3
    ):
        body["depends_on"] = dep_on - 1
    refs(body)
    # A dependency is between two PBIs (OpenAPI 3.0 cannot say that two properties differ).
    item, other = body.get("item"), body.get("depends_on")
    if isinstance(item, int) and item == other and not isinstance(item, bool):
        ids = _ids("items", slug)
        if item in ids:
            body["depends_on"] = ids[(ids.index(item) + 1) % len(ids)]
    # A retrospective's link names a cross-team issue of the same Sprint (a team item or another
    # Sprint's issue is refused with a 400): pick one of the body's Sprint (the `sprint` kept as
    # generated, one in four, leaves the unknown rows to refuse).
    link, sprint = body.get("cross_team_issue"), body.get("sprint")
    if isinstance(link, int) and not isinstance(link, bool) and isinstance(sprint, int):
        issues = RetroItem.objects.filter(sprint_id=sprint, part="cross_team").order_by("id")
        ids = list(issues.values_list("id", flat=True))
        body["cross_team_issue"] = ids[link % len(ids)] if ids else None
    column = body.get("column")
    if move and isinstance(column, int) and not isinstance(column, bool) and column % 4 != 3:
        square = (case.path_parameters or {}).get("id") or 0
        team_id = TeamInvolvement.objects.filter(pk=square).values_list("team_id", flat=True).first()
        board = list(TeamColumn.objects.filter(team_id=team_id).order_by("id").values_list("id", flat=True))
        if board:
            body["column"] = board[column % len(board)]
    if isinstance(body.get("owner"), str):
        body["owner"] = "st-admin"  # a member (an action's owner must be one; others: tests/events)
    if isinstance(body.get("username"), str) and not kept(body["username"]):
        body["username"] = f"st-user-{zlib.crc32(body['username'].encode('utf-8', 'surrogatepass')) % USERS}"
    for item in body.get("items") or ():
        if isinstance(item, dict):
            refs(item)
            ext = item.get("external_id")
            if isinstance(ext, str) and not kept(ext):
                item["external_id"] = f"EXT-{zlib.crc32(ext.encode('utf-8', 'surrogatepass')) % EXTERNAL_IDS}"


#: Write operations whose schema-valid generated bodies are mostly refused (400), and why the OpenAPI
#: document cannot state the constraint (it is in the field's description instead).
MOSTLY_REFUSED = {
    "POST /api/v1/nexuses/": "a new Nexus's `columns` have exactly one started and one finished column, "
    "the started one first, and unique names: OpenAPI 3.0 has no `contains`/`maxContains` nor "
    "uniqueness of one property of the items of an array",
}


def _exercise(
    schema: Any, operation: Any, mode: GenerationMode, failures: list[str]
) -> tuple[str, Counter[int]]:
    """Run `MAX_EXAMPLES` generated requests of one operation in one mode, checking every response
    (all of schemathesis's checks); failed checks go to `failures`.
    Returns the status codes seen, as text for the summary and counted."""
    codes: Counter[int] = Counter()
    headers = schema.auth_headers  # passed explicitly: the auth checks then probe without it

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        _real_ids(case, schema.nexus_slug)
        if mode == GenerationMode.POSITIVE:
            _real_refs(case, schema.nexus_slug)
        response = case.call(headers=headers)
        codes[response.status_code] += 1
        try:
            case.validate_response(response, headers=headers)
        except (AssertionError, FailureGroup) as exc:  # every failed check, grouped
            failures.append(f"{operation.label} [{mode.value}]: {exc}\n  {case.as_curl_command()}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return "no invalid request can be built", codes
    return str(dict(sorted(codes.items()))), codes


def test_every_operation_conforms_to_the_schema(api_schema):
    """Each operation of /api/schema/, in positive and negative mode, `MAX_EXAMPLES` examples each
    (Hypothesis, derandomized with `SEED`): every response is checked by schemathesis's checks (no
    5xx; status code, content type, headers and body as documented; invalid data refused; auth
    enforced...). All failures are collected, then reported together; the summary is written to
    test-results/schemathesis-summary.txt."""
    failures: list[str] = []
    summary: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deletions last: rows for the others
    assert len(operations) >= 40
    assert "GET /api/v1/nexuses/{nexus_slug}/flow/" in {op.label for op in operations}
    mostly_refused: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            outcome, codes = _exercise(api_schema, operation, mode, failures)
            summary.append(f"{operation.label:72} {mode.value:8} {outcome}")
            writes = operation.method.upper() in ("POST", "PUT", "PATCH")
            if mode == GenerationMode.POSITIVE and writes and codes[400] * 2 > codes.total():
                mostly_refused.append(f"{operation.label} {outcome}")
    out = Path(__file__).resolve().parents[2] / "test-results"
    out.mkdir(exist_ok=True)
    (out / "schemathesis-summary.txt").write_text(
        f"{len(operations)} operations x 2 modes, up to {MAX_EXAMPLES} examples each, seed {SEED}: "
        f"{len(failures)} failures\n" + "\n".join(summary) + "\n"
    )
    assert not failures, "\n\n".join(failures[:20])
    # The document states what the validation enforces: schema-valid data is mostly accepted (a 404
    # for a generated id, a 409 for a state conflict, a 412 for a generated If-Match are not refusals
    # of the data), except where OpenAPI 3.0 cannot state the constraint.
    unexplained = [line for line in mostly_refused if line.split(" {")[0] not in MOSTLY_REFUSED]
    assert not unexplained, "schema-valid bodies mostly refused with 400:\n" + "\n".join(unexplained)
    assert sorted(line.split(" {")[0] for line in mostly_refused) == sorted(MOSTLY_REFUSED), mostly_refused
