"""One alert per story in Discord: a later copy edits the first message instead of posting again."""

from __future__ import annotations

from tests.chat.running import Regwatch, kaspersky_item
from tests.pipeline.test_stories import COPIES


async def test_later_copies_of_a_story_edit_the_first_alert(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("vendor:Kaspersky", user_id=fake.admin.user.id)
    before = len(fake.messages(fake.channel.id))

    (_, first_title, first_link), *later = COPIES
    app.publish(kaspersky_item(first_title, first_link))
    polled, sent = await app.poll_and_deliver()
    assert (polled.alerts, sent) == (1, 1)
    [message] = fake.messages(fake.channel.id)[before:]
    assert message["embeds"][0]["title"].startswith("US sanctions 12 Kaspersky Lab leaders")
    assert not any(f["name"] == "Also reported by" for f in message["embeds"][0].get("fields", []))

    for _, title, link in later:
        app.publish(kaspersky_item(title, link))
        await app.poll_and_deliver()

    # Still one message in the channel, now listing where else the story was reported.
    [edited] = fake.messages(fake.channel.id)[before:]
    assert edited["id"] == message["id"]
    [also] = [f for f in edited["embeds"][0]["fields"] if f["name"] == "Also reported by"]
    assert also["value"].count("Local news") == 2  # both copies came from the one local source
