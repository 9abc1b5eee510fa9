"""A `regwatch` process killed right after its webhook post, then restarted: exactly one message.

A webhook execute carries no nonce, so Discord would take the re-send as a new message. The
restart finds the alerts' saved attempt marker, looks for the message in the channel's history by
its buttons' custom id (a digest by its content), and records it instead of posting again.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from bot.storage import webhooks
from bot.storage.webhooks import ChannelWebhook
from tests.chat.test_bot_process import FEED, NASA, Deployment
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items


def _item(n: int) -> str:
    return rss_item(f"Kaspersky notice {n}", f"https://example.gov/k/{n}", guid=f"k-{n}")


async def _deployment_with_webhook(
    fake: FakeDiscord, feeds: FeedServer, tmp_path: Path
) -> tuple[Deployment, int]:
    deployment = Deployment(fake, feeds, tmp_path)
    code, out = await deployment.run("subs", "add", "kaspersky", "--target", f"discord:{fake.channel.id}")
    assert code == 0, out
    code, out = await deployment.run("run", "--once")  # the first poll records, alerts nothing
    assert code == 0, out
    made = fake.webhooks.create(fake.channel.id, fake.guild.id, {"name": "Compliance Desk"})
    hook = ChannelWebhook(
        f"discord:{fake.channel.id}", int(made.body["id"]), made.body["token"], "Desk", None
    )
    db = Database(deployment.db)
    webhooks.enable(db, fake.guild.id, hook, "test", datetime.now(UTC))
    db.close()
    return deployment, hook.webhook_id


async def test_a_kill_after_the_webhook_post_then_a_restart_posts_the_alerts_once(
    fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = fake_discord
    deployment, hook_id = await _deployment_with_webhook(fake, feed_server, tmp_path)
    feed_server.set(FEED, with_items(NASA, _item(1), _item(2)))

    code, out = await deployment.run("run", "--once", REGWATCH_FAILPOINTS="after_send")
    assert code == -signal.SIGKILL, f"not killed at after_send (exit {code}):\n{out}"
    [message] = fake.messages(fake.channel.id)  # posted, then the process died before marking it
    assert message["webhook_id"] == str(hook_id)
    assert {status for status, _ in deployment.outbox()} == {"pending"}

    code, out = await deployment.run("run", "--once")
    assert code == 0, out
    assert [m["id"] for m in fake.messages(fake.channel.id)] == [message["id"]]
    assert deployment.outbox() == [("sent", message["id"]), ("sent", message["id"])]
    assert len(fake.requests("POST", rf"^/webhooks/{hook_id}/")) == 1
    assert fake.requests("GET", rf"^/channels/{fake.channel.id}/messages$")  # it looked
    urls = sorted(e["url"] for e in message["embeds"])
    assert urls == ["https://example.gov/k/1", "https://example.gov/k/2"]


async def test_a_kill_after_a_webhook_digest_then_a_restart_posts_the_digest_once(
    fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = fake_discord
    deployment, hook_id = await _deployment_with_webhook(fake, feed_server, tmp_path)
    code, out = await deployment.run("subs", "schedule", "1", "daily", "09:00")
    assert code == 0, out
    feed_server.set(FEED, with_items(NASA, _item(1), _item(2), _item(3)))
    code, out = await deployment.run("run", "--once")  # the alerts wait for their digest
    assert code == 0, out
    assert not fake.messages(fake.channel.id)

    code, out = await deployment.run("digest", "run", REGWATCH_FAILPOINTS="after_digest_post")
    assert code == -signal.SIGKILL, f"not killed at after_digest_post (exit {code}):\n{out}"
    [digest] = fake.messages(fake.channel.id)
    assert digest["webhook_id"] == str(hook_id) and "3 alerts" in digest["content"]

    code, out = await deployment.run("digest", "run")
    assert code == 0, out
    assert [m["id"] for m in fake.messages(fake.channel.id)] == [digest["id"]]
    assert {status for status, _ in deployment.outbox()} == {"sent"}
    assert len(fake.requests("POST", rf"^/webhooks/{hook_id}/")) == 1
