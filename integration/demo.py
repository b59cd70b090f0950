"""The demo step of `integration` (filled in below)."""

from typing import Any


def demo_step(ctx: Any) -> str:
    return ""
