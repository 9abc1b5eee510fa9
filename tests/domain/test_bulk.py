"""Overlapping pauses of the garbage collector (a preview thread while a matcher is built)."""

from __future__ import annotations

import gc

from bot.domain.bulk import gc_paused


def test_overlapping_pauses_switch_the_collector_back_on_at_the_last_end() -> None:
    assert gc.isenabled()
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
