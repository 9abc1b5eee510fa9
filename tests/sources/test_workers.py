"""The parse worker pool: deadlines kill and replace workers, batches survive one bad document,
errors come back as they were, and closing stops whatever is running."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.domain.errors import ParseError
from bot.sources.adapters import parse_document
from bot.sources.workers import InThread, ParseTimeout, WorkerPool, WorkerStopped
from tests.helpers import fixture_bytes

NASA = "spec_rss2sample_nasa_liftoff.xml"
FOREVER = 3600.0  # a call that never ends by itself: only the deadline or close() stops it


async def test_a_document_is_parsed_in_a_worker_like_in_the_process() -> None:
    body = fixture_bytes(NASA)
    async with WorkerPool(1, timeout=60) as pool:
        parsed = await pool.run(parse_document, "feed", body, url="https://www.nasa.gov/rss")
    assert parsed == parse_document("feed", body, url="https://www.nasa.gov/rss")


async def test_an_overrun_kills_the_worker_and_a_fresh_one_takes_the_next_document() -> None:
    async with WorkerPool(1, timeout=5) as pool:
        first = await pool.run(len, "abc")
        with pytest.raises(ParseTimeout, match=r"^parse took longer than 5 s"):
            await pool.run(time.sleep, FOREVER)
        assert pool.killed == 1
        assert await pool.run(len, "abcd") == 4
    assert first == 3


async def test_errors_come_back_as_they_were() -> None:
    async with WorkerPool(1, timeout=60) as pool:
        with pytest.raises(ParseError, match="not a feed"):
            await pool.run(parse_document, "feed", b"plain text, not a feed")
        with pytest.raises(ValueError, match="invalid literal"):
            await pool.run(int, "x")
        assert await pool.run(divmod, 7, 2) == (3, 1)


async def test_a_batch_goes_on_after_a_document_that_overruns() -> None:
    async with WorkerPool(1, timeout=5) as pool:
        outcomes = await pool.run_many(
            [(len, ("ab",), {}), (time.sleep, (FOREVER,), {}), (int, ("x",), {}), (len, ("abc",), {})]
        )
    assert outcomes[0] == 2 and outcomes[3] == 3
    assert isinstance(outcomes[1], ParseTimeout) and isinstance(outcomes[2], ValueError)


async def test_close_stops_a_call_in_flight_at_once() -> None:
    pool = WorkerPool(1, timeout=FOREVER)
    await pool.start()
    call = asyncio.create_task(pool.run(time.sleep, FOREVER))
    deadline = time.monotonic() + 120
    while pool.in_flight == 0:
        assert time.monotonic() < deadline, "the call never reached a worker"
        await asyncio.sleep(0.01)
    await pool.close()
    with pytest.raises(WorkerStopped):
        await asyncio.wait_for(call, 60)
    with pytest.raises(WorkerStopped):
        await pool.run(len, "abc")


async def test_in_thread_runs_the_same_calls_without_a_pool() -> None:
    offload = InThread()
    assert await offload.run(len, "abc") == 3
    outcomes = await offload.run_many([(len, ("ab",), {}), (int, ("x",), {})])
    assert outcomes[0] == 2 and isinstance(outcomes[1], ValueError)
