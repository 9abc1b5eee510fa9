"""Packing alerts into Discord messages and digests, checked against the fake Discord's limit checker.

Alerts are read back from a real SQLite outbox (items of a captured feed); every payload must pass
the same validation the fake Discord applies to a POST (10 embeds, 6,000 units, 25-character nonce).
"""

from __future__ import annotations

from bot.delivery.batch import (
    MAX_EMBEDS,
    DigestText,
    compact_embed,
    digest_console,
    digest_payloads,
    group_alerts,
    pack,
)
from bot.delivery.embed import EMBED_TOTAL_MAX, build_embed, build_message, embed_length
from bot.domain.vendors import VendorCatalog
from bot.storage.outbox import PendingAlert
from tests.delivery.kit import Outbox
from tests.fakediscord.validation import rejection


async def channel_alerts(box: Outbox, count: int, **kw: object) -> list[PendingAlert]:
    """Enqueue `count` alerts for one Discord channel and return them as the dispatcher reads them."""
    sub = await box.subscribe(target="discord:123456789012345678")
    await box.enqueue(sub, count, **kw)  # type: ignore[arg-type]
    return await box.pending()


async def test_pack_fills_each_message_up_to_discords_limits_in_order(box: Outbox) -> None:
    alerts = await channel_alerts(box, 55, text_repeat=3)  # long texts: the 6,000 total binds first
    batches = pack(alerts, {})

    assert [a.id for b in batches for a in b.alerts] == [a.id for a in alerts]
    assert any(len(b.alerts) < MAX_EMBEDS for b in batches[:-1]), "long embeds should split before 10"
    for n, batch in enumerate(batches):
        payload = batch.payload
        assert rejection(payload) is None, rejection(payload)
        embeds = payload["embeds"]
        assert len(embeds) == len(batch.alerts) <= MAX_EMBEDS
        total = sum(embed_length(e) for e in embeds)
        assert total <= EMBED_TOTAL_MAX
        assert embeds[0] == build_embed(batch.alerts[0])  # a message opens with a full embed
        for alert, embed in zip(batch.alerts, embeds, strict=True):
            assert embed in (build_embed(alert), compact_embed(alert))
        if n + 1 < len(batches):  # the next alert did not fit, even compact
            following = batches[n + 1].alerts[0]
            assert (
                len(embeds) == MAX_EMBEDS or total + embed_length(compact_embed(following)) > EMBED_TOTAL_MAX
            )
    nonces = [b.payload["nonce"] for b in batches]
    assert len(set(nonces)) == len(nonces) and all(len(x) <= 25 for x in nonces)
    # Packed again (a retry after a crash), the messages and their nonces are the same.
    assert [b.payload for b in pack(alerts, {})] == [b.payload for b in batches]


async def test_a_lone_alert_goes_as_its_own_message_and_obeys_the_mention_filter(box: Outbox) -> None:
    role = 987654321098765432
    sub = await box.subscribe(target="discord:123456789012345678", mention_role_id=role)
    await box.enqueue(sub)
    [alert] = await box.pending()

    [batch] = pack([alert], {})
    assert batch.payload == build_message(alert)
    assert batch.payload["allowed_mentions"] == {"parse": [], "roles": [str(role)]}
    [quiet] = pack([alert], {sub: ("high",)})  # mention only for high-severity actions; none here
    assert quiet.payload["content"] == "" and quiet.payload["allowed_mentions"]["roles"] == []
    assert rejection(quiet.payload) is None


async def test_a_digest_is_cut_into_numbered_parts_within_limits(box: Outbox) -> None:
    kaspersky = await channel_alerts(box, 40, terms=("Kaspersky Lab",))
    others = await box.enqueue(await box.subscribe(target="discord:1"), 15)
    alerts = [*kaspersky, *[a for a in await box.pending() if a.id in others]]
    vendors = VendorCatalog.load_default()
    groups = group_alerts(alerts, vendors)
    text = DigestText("Daily digest for subscription #1: 55 alerts", groups, ["Note: 3 came in too fast."])
    role = 555555555555555555

    payloads = digest_payloads(text, "discord:123456789012345678", [a.id for a in alerts], [role])
    assert len(payloads) > 1
    for n, payload in enumerate(payloads, 1):
        assert rejection(payload) is None, rejection(payload)
        assert f"\\(part {n} of {len(payloads)}\\)" in payload["content"]  # markdown-escaped
        assert sum(embed_length(e) for e in payload["embeds"]) <= EMBED_TOTAL_MAX
    first, *rest = payloads
    assert first["content"].startswith(f"<@&{role}> ") and "came in too fast" in first["content"]
    assert first["allowed_mentions"]["roles"] == [str(role)]
    assert all(p["allowed_mentions"]["roles"] == [] and "<@&" not in p["content"] for p in rest)
    lines = [line for p in payloads for e in p["embeds"] for line in e["description"].split("\n")]
    assert len(lines) == 55  # every alert once
    titles = [e["title"] for p in payloads for e in p["embeds"]]
    assert any(t.startswith("Kaspersky · other news \\(40\\) \\(continued\\)") for t in titles)
    assert len({p["nonce"] for p in payloads}) == len(payloads)


async def test_digest_groups_are_by_catalog_vendor_and_newest_first(box: Outbox) -> None:
    named = await channel_alerts(box, 3, terms=("AO Kaspersky Lab",))
    sub = await box.subscribe(target="discord:1")
    await box.enqueue(sub, 2, action="ban")
    alerts = await box.pending()
    groups = group_alerts(alerts, VendorCatalog.load_default())

    assert {(g.vendor, g.action) for g in groups} >= {("Kaspersky", None)}
    newest_first = [(g.alerts[0].published, g.alerts[0].id) for g in groups]
    assert newest_first == sorted(newest_first, reverse=True)
    for group in groups:
        order = [(a.published, a.id) for a in group.alerts]
        assert order == sorted(order, reverse=True)
    [kaspersky] = [g for g in groups if g.vendor == "Kaspersky"]
    assert sorted(a.id for a in kaspersky.alerts) == [a.id for a in named]
    assert kaspersky.heading == "Kaspersky · other news (3)"

    console = digest_console(DigestText("Digest", groups, ["a note"]))
    assert console.startswith("DIGEST Digest\n  note: a note")
    for alert in alerts:
        assert alert.title in console and f"      {alert.link}" in console
