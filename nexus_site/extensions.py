"""The one extension point: what each app adds to the whole, declared once in its `AppConfig.ready()`.

    from nexus_site.extensions import Extension, NavEntry, extension_register

    class EventsConfig(AppConfig):
        def ready(self) -> None:
            extension_register(Extension(
                app="events",
                nav=(NavEntry(label="Board", url_name="events:board", order=30),),
                webhook_events=(WebhookEventType("sprint.started", "Sprint started"),),
                demo_steps=(DemoStep(name="plan Sprints", run=demo.demo_sprints, order=20),),
                bench_rows=(BenchRows(name="events", run=bench.run, order=30),),
            ))

An app declares, in one `Extension`:

| field            | what                                                 | read by                         |
|------------------|------------------------------------------------------|---------------------------------|
| `rules`          | API permission rules, `check(user, nexus) -> bool`   | `nexus_site.api.permissions`    |
| `tombstones`     | models whose deletions leave a tombstone for sync    | `backlog.services.tombstones`   |
| `webhook_events` | event types a webhook can subscribe to               | `backlog.services.webhooks`     |
| `demo_steps`     | idempotent steps of `load_demo`, by `order`          | `manage.py load_demo`           |
| `bench_rows`     | `run(ctx) -> list[Row]` for `make bench`, by `order` | `manage.py bench`               |
| `nav`            | a Nexus page in the top navigation, by `order`       | `{% nexus_nav %}` (`base.html`) |
| `panels`         | an htmx-loaded panel in a named slot of a page       | `{% panels slot nexus %}`       |
| `checks`         | consistency checks of a Nexus's stored state         | `manage.py check_nexus`         |
| `board`          | card badges, a side panel and a card action of the Nexus board | `events.board`        |

Lower apps never name upper ones: `backlog` reads this registry and never imports `flow`, `events` or
`integration`; each of those registers here what it adds. Apps register in `INSTALLED_APPS` order
(`backlog` first), so by the time any request, command or task runs, everything is registered.
Registering the same declaration again is harmless (tests and `ready()` re-entry); a name taken with a
different meaning raises `ValueError` at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOMBSTONE_KIND_PATTERN = re.compile(r"[a-z][a-z_]{0,19}")
WEBHOOK_EVENT_PATTERN = re.compile(r"[a-z][a-z_]{0,18}\.[a-z][a-z_]{0,18}")
RULE_PATTERN = re.compile(r"[a-z][a-z_]{0,39}")


@dataclass(frozen=True)
class PermissionRule:
    """An API permission rule: `check(user, nexus)` decides; `message` is the 403's reason."""

    name: str
    check: Callable[[Any, Any], bool]
    message: str


@dataclass(frozen=True)
class TombstoneSpec:
    """Deleting a `model` row leaves a tombstone of `kind` (lower case, at most 20 characters) in the
    Nexus `nexus_id_of(instance)` gives (None: leave none, e.g. when the Nexus itself is going)."""

    model: type
    kind: str
    nexus_id_of: Callable[[Any], int | None]


@dataclass(frozen=True)
class WebhookEventType:
    """A `<resource>.<verb>` event (`sprint.started`) webhooks can subscribe to, `label` for people."""

    event: str
    label: str


@dataclass(frozen=True)
class DemoContext:
    """What `load_demo` was asked for: the demo Nexus's `slug`, the event log to import (`path`, None
    for the bundled Eclipse JDT history) and the demo users' `password`."""

    slug: str
    password: str
    path: Any = None


@dataclass(frozen=True)
class DemoStep:
    """A step of `load_demo`: `run(ctx: DemoContext) -> str` (lines for the console). Idempotent:
    `load_demo` runs every step on each call, so a step checks what is there already. Steps run by
    `order` (backlog's import and users are 0), so `events` can plan Sprints on the demo Nexus the
    backlog step made."""

    name: str
    run: Callable[[DemoContext], str]
    order: int = 100


@dataclass(frozen=True)
class BenchRows:
    """Rows of the `make bench` table: `run(ctx: nexus_site.bench.BenchContext) -> list[Row]`, printed
    by `order`."""

    name: str
    run: Callable[[Any], list[Any]]
    order: int = 100


@dataclass(frozen=True)
class NavEntry:
    """A Nexus page in the top navigation: `url_name` is reversed with the Nexus's slug."""

    label: str
    url_name: str
    order: int = 100


@dataclass(frozen=True)
class Panel:
    """A panel of another app shown in a page's `slot` (e.g. `backlog-top`): the page renders a
    `<section>` that htmx fills from `url_name` (reversed with the Nexus's slug) on load and on each of
    the page's `refresh_on` events."""

    slot: str
    name: str
    label: str
    url_name: str
    refresh_on: str = ""
    order: int = 100


@dataclass(frozen=True)
class CheckResult:
    """What a consistency check found: `mismatches` (one readable line each, naming the row and what
    differs), `notes` (not failures: e.g. figures marked pending) and `repaired` (what a repair rewrote)."""

    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ConsistencyCheck:
    """A check of `manage.py check_nexus`: `run(nexus, repair: bool) -> CheckResult` compares what is
    stored for one Nexus with what its transition log gives. It never changes history; with `repair`
    True (only when `repair` names an option, `--repair-<repair>`, and the operator gave it) it may
    rewrite derived rows (e.g. flow figures) and report them in `repaired`. Run by `order`."""

    name: str
    run: Callable[[Any, bool], CheckResult]
    repair: str = ""
    order: int = 100


@dataclass(frozen=True)
class BoardPanelRow:
    """A line of a board side panel: `text`, `url` (may be ""), `age_days` (calendar days, None: not
    shown), `level` (a short badge, may be "")."""

    text: str
    url: str = ""
    age_days: int | None = None
    level: str = ""


@dataclass(frozen=True)
class BoardProvider:
    """What an upper app adds to the Nexus board (`events`), which never imports it:

    - `card_counts(nexus, item_ids) -> {item_id: n}`: a number shown on each card as a badge labelled
      `badge` (e.g. open integration issues); a fixed number of queries for all the cards at once;
    - `panel(nexus, today) -> list[BoardPanelRow]`: the side panel titled `label`;
    - `card_action(nexus_slug, item_id) -> str`: the URL of the card action named `action` (e.g. raise an
      integration issue on the PBI), "" for none.
    """

    name: str
    label: str
    badge: str
    card_counts: Callable[[Any, list[int]], dict[int, int]]
    panel: Callable[[Any, Any], list[BoardPanelRow]]
    action: str = ""
    card_action: Callable[[str, int], str] | None = None
    order: int = 100


@dataclass(frozen=True)
class Extension:
    """Everything one app adds; see the module's table."""

    app: str
    rules: tuple[PermissionRule, ...] = ()
    tombstones: tuple[TombstoneSpec, ...] = ()
    webhook_events: tuple[WebhookEventType, ...] = ()
    demo_steps: tuple[DemoStep, ...] = ()
    bench_rows: tuple[BenchRows, ...] = ()
    nav: tuple[NavEntry, ...] = ()
    panels: tuple[Panel, ...] = ()
    checks: tuple[ConsistencyCheck, ...] = ()
    board: tuple[BoardProvider, ...] = ()


@dataclass
class _Registry:
    apps: dict[str, Extension] = field(default_factory=dict)
    rules: dict[str, PermissionRule] = field(default_factory=dict)
    tombstones: dict[str, TombstoneSpec] = field(default_factory=dict)
    tombstones_by_model: dict[type, TombstoneSpec] = field(default_factory=dict)
    webhook_events: dict[str, WebhookEventType] = field(default_factory=dict)
    listeners: list[Callable[[Extension], None]] = field(default_factory=list)


_registry = _Registry()
_FIELDS = (
    "rules",
    "tombstones",
    "webhook_events",
    "demo_steps",
    "bench_rows",
    "nav",
    "panels",
    "checks",
    "board",
)


def _check(ext: Extension) -> None:
    for rule in ext.rules:
        if not RULE_PATTERN.fullmatch(rule.name):
            raise ValueError(f"A permission rule is a lower-case name, not {rule.name!r}.")
        known = _registry.rules.get(rule.name)
        if known is not None and known.check is not rule.check:
            raise ValueError(f"The permission rule {rule.name!r} exists already.")
    for t in ext.tombstones:
        if not TOMBSTONE_KIND_PATTERN.fullmatch(t.kind):
            raise ValueError(f"A tombstone kind is a lower-case name (20 characters at most), not {t.kind!r}")
        known_t = _registry.tombstones.get(t.kind)
        if known_t is not None and known_t.model is not t.model:
            raise ValueError(f"The tombstone kind {t.kind!r} is registered for {known_t.model.__name__}.")
        by_model = _registry.tombstones_by_model.get(t.model)
        if by_model is not None and by_model.kind != t.kind:
            raise ValueError(f"{t.model.__name__} leaves tombstones of kind {by_model.kind!r} already.")
    for e in ext.webhook_events:
        if not WEBHOOK_EVENT_PATTERN.fullmatch(e.event):
            raise ValueError(f"A webhook event type is '<resource>.<verb>' in lower case, not {e.event!r}.")
        known_e = _registry.webhook_events.get(e.event)
        if known_e is not None and known_e.label != e.label:
            raise ValueError(f"The webhook event type {e.event!r} exists already.")


def extension_register(ext: Extension) -> None:
    """Add what `ext.app` declares (see the module's docstring). Call it from the app's
    `AppConfig.ready()`. An app registering again adds its new declarations to those it made before.
    Raises `ValueError` (nothing registered) for a malformed name or a name another declaration holds."""
    _check(ext)
    previous = _registry.apps.get(ext.app)
    if previous is not None:
        ext = Extension(
            app=ext.app,
            **{
                name: tuple(dict.fromkeys((*getattr(previous, name), *getattr(ext, name))))
                for name in _FIELDS
            },
        )
    _registry.apps[ext.app] = ext
    for rule in ext.rules:
        _registry.rules[rule.name] = rule
    for t in ext.tombstones:
        _registry.tombstones[t.kind] = t
        _registry.tombstones_by_model[t.model] = t
    for e in ext.webhook_events:
        _registry.webhook_events[e.event] = e
    for listener in _registry.listeners:
        listener(ext)


def extension_listen(listener: Callable[[Extension], None]) -> None:
    """Call `listener(ext)` for every extension registered so far and every one registered later
    (an app's declarations may arrive twice: listeners are idempotent). `backlog` uses it to connect
    its `post_delete` receiver to each declared model only, so that the cascades of other models keep
    Django's fast (signal-free) deletes."""
    _registry.listeners.append(listener)
    for ext in list(_registry.apps.values()):
        listener(ext)


def extensions() -> list[Extension]:
    """Every app's declarations, in registration order (`INSTALLED_APPS` order)."""
    return list(_registry.apps.values())


def rules() -> dict[str, PermissionRule]:
    """Permission rules by name."""
    return _registry.rules


def tombstone_kind_of(model: type) -> TombstoneSpec | None:
    """The tombstone declaration for `model`, if its deletions leave one."""
    return _registry.tombstones_by_model.get(model)


def tombstone_kinds() -> list[str]:
    """Every registered tombstone kind."""
    return list(_registry.tombstones)


def webhook_event_types() -> list[WebhookEventType]:
    """Every registered webhook event type, in registration order (`backlog`'s PBI events first)."""
    return list(_registry.webhook_events.values())


def demo_steps() -> list[DemoStep]:
    """Every app's demo steps, by `order` (stable: registration order breaks ties)."""
    return sorted((s for ext in extensions() for s in ext.demo_steps), key=lambda s: s.order)


def bench_rows() -> list[BenchRows]:
    """Every app's bench row providers, by `order`."""
    return sorted((b for ext in extensions() for b in ext.bench_rows), key=lambda b: b.order)


def nav_entries() -> list[NavEntry]:
    """The top navigation of a Nexus's pages, by `order`."""
    return sorted((n for ext in extensions() for n in ext.nav), key=lambda n: n.order)


def panels(slot: str) -> list[Panel]:
    """The panels registered for a page's `slot`, by `order`."""
    return sorted((p for ext in extensions() for p in ext.panels if p.slot == slot), key=lambda p: p.order)


def consistency_checks() -> list[ConsistencyCheck]:
    """Every app's consistency checks (`manage.py check_nexus`), by `order`."""
    return sorted((c for ext in extensions() for c in ext.checks), key=lambda c: c.order)


def board_providers() -> list[BoardProvider]:
    """What upper apps add to the Nexus board (card badges, side panels, card actions), by `order`."""
    return sorted((b for ext in extensions() for b in ext.board), key=lambda b: b.order)
