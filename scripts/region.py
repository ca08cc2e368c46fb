"""Compute a region county by county on dask.distributed (``python -m scripts.region``).

This module holds the one ``Client.map`` path every region run goes through: the demo
region's 22 counties, a county office's own counties and the simulated national benchmark
(:mod:`scripts.bench_region`) all call :func:`map_counties`.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("gapmap.region")


@dataclass(frozen=True)
class CountyOutcome:
    """What one county task gave back.

    Attributes
    ----------
    key : hashable
        The county's key as passed to :func:`map_counties` (its 6-digit code).
    value : object or None
        The task's return value; None when it failed.
    error : str or None
        ``"ExceptionType: message"`` when the task raised (the others still run).
    traceback : str or None
        The worker-side traceback of that exception, for the log.
    seconds : float
        Wall time from submission to the result arriving at the client.
    """

    key: Hashable
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the task returned."""
        return self.error is None


def map_counties(
    client: Any,
    fn: Callable[..., Any],
    keys: Iterable[Hashable],
    *args: Any,
    on_done: Callable[[CountyOutcome, int, int], None] | None = None,
    **kwargs: Any,
) -> dict[Hashable, CountyOutcome]:
    """Run ``fn(key, *args, **kwargs)`` for every county key on a dask cluster.

    One task per county (``Client.map`` with ``pure=False``); results are gathered as
    they finish, so a failed county is reported with its error while the others
    complete.

    Parameters
    ----------
    client : distributed.Client
        A client of a LocalCluster or of a separately started scheduler.
    fn : callable
        The county task; it must be importable by the workers (a module-level function).
    keys : iterable of hashable
        The counties (6-digit codes), in the order to submit them.
    *args, **kwargs
        Passed to every call of ``fn`` (scattered once by dask when large).
    on_done : callable, optional
        Called as ``on_done(outcome, done, total)`` after each county (progress).

    Returns
    -------
    dict
        Key → :class:`CountyOutcome`, in submission order.
    """
    from distributed import as_completed

    keys = list(keys)
    t0 = time.perf_counter()
    futures = client.map(fn, keys, *[[a] * len(keys) for a in args], pure=False, **kwargs)
    key_of = {f.key: k for f, k in zip(futures, keys, strict=True)}
    outcomes: dict[Hashable, CountyOutcome] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        key = key_of[future.key]
        seconds = time.perf_counter() - t0
        if future.status == "error":
            exc = future.exception()
            tb = "".join(traceback.format_tb(future.traceback()))
            outcome = CountyOutcome(
                key, error=f"{type(exc).__name__}: {exc}", traceback=tb, seconds=seconds
            )
            log.error("county %s failed: %s", key, outcome.error)
        else:
            outcome = CountyOutcome(key, value=future.result(), seconds=seconds)
        future.release()
        outcomes[key] = outcome
        if on_done is not None:
            on_done(outcome, done, len(keys))
    return {k: outcomes[k] for k in keys}
