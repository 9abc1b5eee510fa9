"""The audit trail: alerts, acknowledgements, mutes and subscription changes (who, when), exported
as an attachment by /alerts export and as a file by `regwatch alerts export`; /alerts recent pages."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.chat.running import KASPERSKY_LINK, KASPERSKY_TITLE, Regwatch, kaspersky_item, regwatch_at
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.test_cli import regwatch as run_cli


async def _story(app: Regwatch) -> tuple[int, int]:
    """Subscribe, alert, acknowledge, mute, then add and remove a second subscription."""
    fake = app.fake
    await app.prime()
    sub_id = await app.subscribe("kaspersky")
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [message] = fake.messages(fake.channel.id)
    [(alert_id, *_)] = await app.outbox_rows()
    await fake.click(message, f"rw:ack:{alert_id}", user_id=fake.admin.user.id)
    await fake.click(message, f"rw:mute:{alert_id}", user_id=fake.admin.user.id)
    other = await app.subscribe("huawei")
    removed = await fake.invoke("watch remove", options={"id": other}, user_id=fake.owner.user.id)
    assert "emoved" in removed.content, removed.content
    return sub_id, alert_id


def _check_timeline(rows: list[dict[str, str]], fake: FakeDiscord, sub_id: int, alert_id: int) -> None:
    events = [(r["event"], r["actor"]) for r in rows]
    admin, owner = f"discord:{fake.admin.user.id}", f"discord:{fake.owner.user.id}"
    assert events == [
        ("subscription.added", admin),
        ("alert.sent", "regwatch"),
        ("alert.acknowledged", admin),
        ("mute.added", admin),
        ("subscription.added", admin),
        ("subscription.removed", owner),
    ], events
    sent = rows[1]
    assert sent["alert_id"] == str(alert_id) and sent["subscription_id"] == str(sub_id)
    assert sent["title"] == KASPERSKY_TITLE and sent["link"] == KASPERSKY_LINK
    assert sent["channel_id"] == str(fake.channel.id)
    assert sent["acknowledged_by"] == f"admin (discord:{fake.admin.user.id})" and sent["acknowledged_at"]
    assert "Kaspersky" in rows[3]["detail"] and "until" in rows[3]["detail"]
    assert all(r["at"] for r in rows)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)


async def test_alerts_export_attaches_the_audit_trail_as_csv_and_json(app: Regwatch) -> None:
    fake = app.fake
    sub_id, alert_id = await _story(app)
    result = await fake.invoke("alerts export", user_id=fake.admin.user.id)
    assert result.ephemeral and "6 events" in result.content, result.content
    [attachment] = result.message["attachments"] if result.message else []
    assert attachment["filename"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(fake.attachment_bytes(attachment).decode("utf-8"))))
    _check_timeline(rows, fake, sub_id, alert_id)

    as_json = await fake.invoke("alerts export", options={"format": "json"})
    [attachment] = as_json.message["attachments"] if as_json.message else []
    records = json.loads(fake.attachment_bytes(attachment))
    assert [r["event"] for r in records] == [r["event"] for r in rows]
    assert records[1]["alert_id"] == alert_id  # JSON keeps numbers as numbers

    refused = await fake.invoke("alerts export", user_id=fake.member.user.id)
    assert "Manage Server" in refused.content and not refused.message.get("attachments")  # type: ignore[union-attr]


async def test_regwatch_alerts_export_reads_the_same_trail(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = discord_at_fake
    async with regwatch_at(fake, feed_server, tmp_path) as app:
        sub_id, alert_id = await _story(app)
    db = str(tmp_path / "regwatch.db")
    code, out, err = await run_cli(tmp_path, "alerts", "export", "--format", "csv", REGWATCH_DATABASE_PATH=db)
    assert code == 0, err
    _check_timeline(list(csv.DictReader(io.StringIO(out))), fake, sub_id, alert_id)
    code, out, err = await run_cli(
        tmp_path, "alerts", "export", "--since", "2999-01-01", "--format", "json", REGWATCH_DATABASE_PATH=db
    )
    assert (code, json.loads(out)) == (0, []), err
    code, _, err = await run_cli(tmp_path, "alerts", "export", "--since", "yesterday")
    assert code == 2 and "YYYY-MM-DD" in err


async def test_alerts_recent_pages_beyond_25(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("kaspersky")
    app.publish(
        *[
            kaspersky_item(f"Kaspersky notice number {n}", f"https://www.bis.gov/kaspersky-{n}")
            for n in range(30)
        ]
    )
    await app.poll_and_deliver()
    ids = [r[0] for r in await app.outbox_rows()]
    assert len(ids) == 30
    first = await fake.invoke("alerts recent", options={"count": 25})
    second = await fake.invoke("alerts recent", options={"count": 25, "page": 2})
    shown_first = [int(line.split("`")[1]) for line in first.content.splitlines() if line.startswith("`")]
    shown_second = [int(line.split("`")[1]) for line in second.content.splitlines() if line.startswith("`")]
    assert "page:2" in first.content
    assert shown_first + shown_second == sorted(ids, reverse=True)
