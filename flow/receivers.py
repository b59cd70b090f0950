"""Reacts to `backlog.signals.items_changed`: request a (coalesced) flow recompute for the Nexus."""

from __future__ import annotations

from typing import Any

from flow.services import recompute_request


def on_items_changed(sender: Any, *, nexus_id: int, flow: bool = True, **kwargs: Any) -> None:
    if flow:
        recompute_request(nexus_id=nexus_id)
