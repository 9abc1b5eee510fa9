"""`regwatch why URL` and `regwatch subs preview`, through the real command and a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import rss_item, with_items
from tests.test_cli import NASA, regwatch, sources_file

PRIMED = "https://cisa.example/kaspersky-advisory"
NEW = "https://cisa.example/bod-kaspersky"
OLD = "https://cisa.example/old-kaspersky"


async def test_why_explains_alerts_and_non_alerts_and_preview_counts(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA, rss_item("Kaspersky Lab advisory", PRIMED)))
    extra = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path, feed_server.url("/f.xml"))}
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err
    month_ago = datetime.now(UTC) - timedelta(days=30)
    feed_server.set(
        "/f.xml",
        with_items(
            NASA,
            rss_item("Kaspersky Lab advisory", PRIMED),
            rss_item("CISA issues Binding Operational Directive on AO Kaspersky Lab products", NEW),
            rss_item("Kaspersky Lab results", OLD, published=month_ago),
        ),
    )
    code, out, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err and "ALERT" in out

    code, out, _ = await regwatch(tmp_path, "why", NEW + "?utm_source=x", **extra)
    assert code == 0
    assert "Classified as: directive." in out
    assert "alerted at" in out
    assert "vendor:Kaspersky: 'AO Kaspersky Lab' in the title (vendor alias 'AO Kaspersky Lab')" in out
    assert 'classifier: directive (action=directive: "binding operational directive" in title' in out
    assert "action: issued by DHS/CISA, jurisdiction US, against Kaspersky" in out
    # The second subscription shares the console target and matched too: one alert per channel.
    assert "matched; the channel got one alert for this link, from subscription 1" in out

    code, out, _ = await regwatch(tmp_path, "why", PRIMED, "--target", "console", **extra)
    assert "recorded on the source's first poll" in out
    assert 'did not match: the item\'s title and text lack "binding operational directive"' in out

    code, out, _ = await regwatch(tmp_path, "why", OLD, **extra)
    assert "too old: older than 168 h" in out

    code, out, _ = await regwatch(tmp_path, "why", "https://nowhere.example/x", **extra)
    assert code == 1 and "has not seen" in out

    code, out, err = await regwatch(tmp_path, "subs", "preview", "vendor:Kaspersky", "--days", "7", **extra)
    assert code == 0, err
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    # Items fetched in the window, counted on the day they were published (the old one too).
    assert "3 matches among 7 items stored in the last 7 days" in out
    assert f"{today}  2" in out and f"{month_ago:%Y-%m-%d}  1" in out
    assert "Binding Operational Directive" in out

    code, _, err = await regwatch(tmp_path, "subs", "preview", "vendor:Kaspersky AND (", **extra)
    assert code == 2 and "invalid query" in err


async def test_first_poll_items_are_classified_when_a_preview_or_why_needs_it(tmp_path, feed_server):
    # The first poll stores items without classifying them (nothing alerts then); `action:`
    # previews and `why` classify them on demand, so they are not missed.
    banned = "https://commerce.example/kaspersky-ban"
    feed_server.set(
        "/f.xml",
        with_items(NASA, rss_item("Commerce Department bans Kaspersky antivirus software", banned)),
    )
    extra = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path, feed_server.url("/f.xml"))}
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "subs", "preview", "action:ban", "--days", "7", **extra)
    assert code == 0, err
    assert "1 matches among" in out and "bans Kaspersky" in out
    code, out, _ = await regwatch(tmp_path, "why", banned, **extra)
    assert "Classified as: ban." in out and "recorded on the source's first poll" in out


async def test_why_never_credits_a_subscription_that_did_not_match(tmp_path, feed_server):
    """Every branch of `why` for subscriptions of one channel, checked against what really happened."""
    feed_server.set("/f.xml", with_items(NASA, rss_item("Kaspersky Lab advisory", PRIMED)))
    extra = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path, feed_server.url("/f.xml"))}
    # Subscription 1 is the user's and does not match the item; 2 and 3 come from the file.
    code, _, err = await regwatch(tmp_path, "subs", "add", "vendor:Huawei", "--target", "console", **extra)
    assert code == 0, err
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err
    feed_server.set(
        "/f.xml",
        with_items(
            NASA,
            rss_item("Kaspersky Lab advisory", PRIMED),
            rss_item("Commerce prohibits Kaspersky Lab software", NEW),
        ),
    )
    code, out, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err
    # Added after the item arrived, both matching it: one for the same channel, one for another.
    for target in ("console", "discord:123456789"):
        code, _, err = await regwatch(tmp_path, "subs", "add", "kaspersky", "--target", target, **extra)
        assert code == 0, err

    code, out, _ = await regwatch(tmp_path, "why", NEW, **extra)
    lines = {int(line.split()[1]): line for line in out.splitlines() if line.startswith("Subscription ")}
    assert "did not match" in lines[1] and "vendor:Huawei" in lines[1]
    assert "alerted at" in lines[2]  # the alert is kaspersky-actions'
    assert "did not match" in lines[3] and "directive" in lines[3]  # no directive words in the item
    assert "matched; the channel got one alert for this link, from subscription 2 (alert 1" in lines[4]
    assert "did not exist yet" in lines[5]
    assert "covered" not in out and "got one alert" not in lines[1] + lines[3]


def test_a_preview_cut_short_says_so():
    from bot.domain.query import parse_query
    from bot.services.insight import preview
    from bot.storage.items import StoredItem

    now = datetime.now(UTC)
    stored = [StoredItem(n, 1, "src", f"Kaspersky item {n}", "text", None, now, now, None) for n in range(3)]
    query = parse_query("kaspersky")
    complete = preview(stored, query)
    assert complete.total == 3 and complete.notes == ()
    cut = preview(stored, query, truncated=True)
    assert cut.total == 3
    assert cut.notes == (
        "only the newest 3 candidate items were searched (of 3 items stored in the period): the"
        " counts cover those only; ask for fewer days or a narrower query",
    )
