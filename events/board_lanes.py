"""Swimlanes of the Nexus board (`BoardFilters.lanes`): none; by Scrum Team (a PBI with several teams
shows in each of their lanes; "No Scrum Team" last); by class of service (`ClassOfService`, in its
order); by PBI (one row per PBI in progress, its team squares across, one column per Scrum Team). Built
from the board's cards in memory: no query."""

from __future__ import annotations

from dataclasses import dataclass, field

from backlog.models import ClassOfService, WorkflowColumn
from events.board import Board, BoardColumn, Card, Square


@dataclass
class LaneCell:
    column: WorkflowColumn
    cards: list[Card] = field(default_factory=list)


@dataclass
class Lane:
    """One swimlane: its `name`, one cell per column of the board, and its number of cards."""

    key: str
    name: str
    cells: list[LaneCell]

    @property
    def count(self) -> int:
        return sum(len(c.cards) for c in self.cells)


@dataclass
class PbiRow:
    """A PBI in progress with its column and its square for each Scrum Team of the Nexus (None: the team
    is not forecast on it: an empty list; else a list of one, for `squares_row`), in the order of
    `LaneView.team_names`."""

    card: Card
    column: WorkflowColumn
    squares: list[list[Square]]


@dataclass
class LaneView:
    kind: str
    lanes: list[Lane] = field(default_factory=list)
    rows: list[PbiRow] = field(default_factory=list)
    team_names: list[str] = field(default_factory=list)


def _lanes(columns: list[BoardColumn], keys: list[tuple[str, str]], of: dict[int, list[str]]) -> list[Lane]:
    lanes = {key: Lane(key, name, [LaneCell(bc.column) for bc in columns]) for key, name in keys}
    for i, bc in enumerate(columns):
        for card in bc.cards:
            for key in of.get(card.item.pk, []):
                lanes[key].cells[i].cards.append(card)
    return [lane for lane in lanes.values() if lane.count]


def board_lanes(board: Board, kind: str) -> LaneView:
    """The swimlanes of `board` of the `kind` (a key of `events.board_filters.LANES`; "" for none)."""
    view = LaneView(kind)
    if kind == "team":
        keys = [(t.name, t.name) for t in board.teams] + [("", "No Scrum Team")]
        of = {c.item.pk: [sq.name for sq in c.squares] or [""] for c in board.cards()}
        view.lanes = _lanes(board.columns, keys, of)
    elif kind == "cos":
        keys = [(str(v), str(label)) for v, label in ClassOfService.choices]
        of = {c.item.pk: [c.item.class_of_service or ClassOfService.STANDARD] for c in board.cards()}
        view.lanes = _lanes(board.columns, keys, of)
    elif kind == "pbi":
        view.team_names = [t.name for t in board.teams]
        for bc in board.columns:
            if not bc.full:
                continue
            for card in sorted(bc.cards, key=lambda c: -(c.age or 0)):
                own = {sq.name: sq for sq in card.squares}
                view.rows.append(
                    PbiRow(card, bc.column, [[own[n]] if n in own else [] for n in view.team_names])
                )
    return view
