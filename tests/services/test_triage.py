"""Mutes hold back only what they cover; the export is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bot.delivery.components import catalog_vendor
from bot.services.triage import to_csv, to_json
from bot.storage import triage
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox

A, B = "discord:111111111111111111", "discord:222222222222222222"


async def test_a_vendor_mute_covers_its_channel_only_and_only_while_it_lasts(
    box: Outbox, clock: Clock
) -> None:
    here = await box.subscribe("kaspersky", A, guild_id=1)
    there = await box.subscribe("kaspersky", B, guild_id=1)
    other_vendor = await box.subscribe("huawei", A, guild_id=1)
    now = clock()
    await box.call(triage.add_mute, 1, A, "vendor", "Kaspersky", now + timedelta(days=7), "discord:5", now)
    await box.enqueue([here, there], terms=("Kaspersky Lab",))
    await box.enqueue(other_vendor, terms=("Huawei",))
    assert await box.call(triage.apply_mutes, now, catalog_vendor) == 1
    assert await box.statuses() == ["muted", "pending", "pending"]
    clock.advance(days=8)
    await box.enqueue(here, terms=("Kaspersky",))
    assert await box.call(triage.apply_mutes, clock(), catalog_vendor) == 0
    assert (await box.statuses())[-1] == "pending"


async def test_the_same_mute_again_extends_it(box: Outbox, clock: Clock) -> None:
    now = clock()
    first = await box.call(triage.add_mute, 1, A, "vendor", "DJI", now + timedelta(days=7), "discord:5", now)
    later = now + timedelta(days=3)
    again = await box.call(
        triage.add_mute, 1, A, "vendor", "DJI", later + timedelta(days=7), "discord:6", later
    )
    assert again.id == first.id
    [only] = await box.call(triage.active_mutes, later)
    assert only.until == later + timedelta(days=7) and only.created_by == "discord:6"


def test_csv_cells_never_run_as_formulas_and_json_keeps_them() -> None:
    row = {f: None for f in triage.EXPORT_FIELDS} | {"event": "alert.sent", "title": '=HYPERLINK("x")'}
    [parsed] = list(csv.DictReader(io.StringIO(to_csv([row]))))
    assert parsed["title"] == '\'=HYPERLINK("x")'
    assert '"=HYPERLINK(\\"x\\")"' in to_json([row])
