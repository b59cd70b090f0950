"""The cyclic garbage collector paused while a flow job builds its figures (`gc_paused`).

The full recompute and the refresh of the summaries build hundreds of thousands of small containers
(a list per scatterplot point, per daily row, per item) that all live until the job ends. Each burst of
allocations makes CPython's cyclic collector run, and its older generations trace every live container
again, the job's own included, so the collections cost more than the building: on the synthetic Nexus
of `make bench`, the refresh after one change spent 1.1 s of CPU under the profiler with the collector
on and 0.39 s with it paused. These jobs make no reference cycles that would need collecting before
they end (their objects are freed by reference counting when the job returns), and the collector runs
again as soon as the job is over. Every process freezes its start-up objects for the same reason
(`nexus_site/apps.py`), the gunicorn workers again once the app is loaded (`nexus_site/gunicorn_conf.py`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for the block; enable it again after, if it was enabled at
    the start (a block inside another one, or in another thread meanwhile, leaves it as it found it;
    reference counting frees memory as usual throughout)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
