"""The console scope's use cases over one database, for one `regwatch` command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlite_utils import Database

from bot.domain.clock import Clock, utcnow
from bot.domain.vendors import VendorCatalog
from bot.services.delivery_settings import ScheduleService
from bot.services.scope import Limits, Scope
from bot.services.sources import SourceService
from bot.services.subscriptions import SubscriptionService
from bot.sources.http import Fetcher
from bot.storage.db import AsyncDatabase


@dataclass(frozen=True)
class ConsoleServices:
    """The use cases a command line calls, all in the console's scope."""

    scope: Scope
    subscriptions: SubscriptionService
    sources: SourceService
    schedules: ScheduleService


@asynccontextmanager
async def console_services(
    db: Database,
    vendors: VendorCatalog,
    limits: Limits,
    *,
    fetcher: Fetcher | None = None,
    clock: Clock = utcnow,
) -> AsyncIterator[ConsoleServices]:
    """Yield the console's use cases on this database (closed on the way out)."""
    adb = AsyncDatabase(db)
    try:
        yield ConsoleServices(
            Scope.console(),
            SubscriptionService(adb, vendors, limits, clock=clock),
            SourceService(adb, fetcher, limits, clock=clock),
            ScheduleService(adb, clock=clock, limits=limits),
        )
    finally:
        await adb.close()
