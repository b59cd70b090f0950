"""`flow`'s demo step (`load_demo`, last): the demo Nexus's stored flow figures brought up to date before
the command ends. The steps before it change the Nexus (Sprints, second teams, increments), and each
change asks for the coalesced recompute; on the embedded default that runs in a daemon thread of the
process a second later (`flow.background`), which a management command does not wait for, so the figures
were left pending ("stale since ...") until the next change on `make run`."""

from __future__ import annotations

from typing import Any

from backlog.models import Nexus
from flow.models import FlowState
from flow.services import flow_recompute


def demo_step(ctx: Any) -> str:
    """Recompute the demo Nexus's flow figures when a recompute is pending or none was ever stored;
    returns a line for the console (empty when they were current already)."""
    nexus = Nexus.objects.filter(slug=ctx.slug).first()
    if nexus is None:
        return ""
    state = FlowState.objects.filter(nexus=nexus).first()
    if state is not None and state.computed_at is not None and state.pending_since is None:
        return ""
    summary = flow_recompute(nexus_id=nexus.pk)
    timings = summary.get("timings", {})
    return (
        f"Flow figures of '{nexus.slug}' brought up to date ({timings.get('rows_written', 0)} rows written)."
    )
