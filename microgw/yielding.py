"""Run a reload's CPU-heavy work (load, validate, build) in a thread that leaves a busy serving loop
most of the interpreter.

A thread doing pure-Python work holds the GIL in 5 ms turns, and the serving loop, which lets it go
at every socket call, waits for a turn each time: a reload of 10,000 applications cut throughput
by 60-90 % while it ran. Here the thread, whenever it has run ``WORK`` (checked as Python functions
are entered), asks ``busy()`` whether requests were answered since it last asked; if so it sleeps
``PAUSE``, so a loaded gateway keeps about ``PAUSE / (WORK + PAUSE)`` of the time (90 %). An idle
gateway reloads at full speed; a loaded one takes up to ten times longer to reload (10,000
applications: 0.7 s alone, about 7 s under full load).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

WORK = 0.001  # seconds the background work runs before it looks whether requests are waiting
PAUSE = 0.009  # seconds it then leaves to the serving loop when they are (at most 1/10 of the time is taken)


def _paced(busy: Callable[[], bool], fn: Callable[..., T], *args: Any) -> T:
    clock, sleep = time.perf_counter, time.sleep
    resumed = clock()

    def tracer(frame, event, arg):  # a global trace function: called when a frame starts, only
        nonlocal resumed
        if clock() - resumed > WORK:
            if busy():
                sleep(PAUSE)
            resumed = clock()
        return None  # no line events

    sys.settrace(tracer)
    try:
        return fn(*args)
    finally:
        sys.settrace(None)


async def in_background(fn: Callable[..., T], *args: Any, busy: Callable[[], bool] | None = None) -> T:
    """``fn(*args)`` in a thread; with ``busy`` (see above) it yields to the loop while that serves."""
    if busy is None:
        return await asyncio.to_thread(fn, *args)
    return await asyncio.to_thread(_paced, busy, fn, *args)


def answering(count: Callable[[], int]) -> Callable[[], bool]:
    """A ``busy`` that is true when ``count()`` (requests answered so far) moved since the last call."""
    last = count()

    def busy() -> bool:
        nonlocal last
        try:
            now = count()
        except RuntimeError:  # counted while another thread added a key: surely busy
            return True
        moved, last = now != last, now
        return moved

    return busy
