"""The outbox: alerts persisted before they are sent, marked sent only after a sink confirmed.

This package is the only writer of outbox rows. `enqueue` makes them inside the poll's
transaction (status, story link); the planner, the dispatcher, digests, mutes and retention
move or delete them through the functions below. `Status` draws the states and their moves.

- enqueue.py: the rows a poll makes (who may see the source, one per link, stories, held)
- read.py: due alerts with everything a sink needs, recent alerts, digests, counts
- write.py: sent, retry, failed, muted, deferred, digest finished, pruned; outcomes audited
- planner.py: held alerts planned; overflow spilled to digests
- stories.py: the story index kept in step with the outbox
"""

from bot.storage.outbox.enqueue import ToEnqueue, enqueue
from bot.storage.outbox.planner import plan_held, spill_overflow
from bot.storage.outbox.read import (
    PendingAlert,
    Story,
    StoryCopy,
    StoryMessage,
    counts,
    digest_alerts,
    due,
    recent,
    story_message,
    with_waiting_digest,
)
from bot.storage.outbox.status import OUTCOMES, TRANSITIONS, WAITING, Status
from bot.storage.outbox.write import (
    claim_message,
    defer,
    finish_digest,
    mark_all_sent,
    mark_failed,
    mark_muted,
    mark_retry,
    mark_sent,
    prune,
    set_message_nonce,
)

__all__ = [
    "OUTCOMES",
    "TRANSITIONS",
    "WAITING",
    "PendingAlert",
    "Status",
    "Story",
    "StoryCopy",
    "StoryMessage",
    "ToEnqueue",
    "claim_message",
    "counts",
    "defer",
    "digest_alerts",
    "due",
    "enqueue",
    "finish_digest",
    "mark_all_sent",
    "mark_failed",
    "mark_muted",
    "mark_retry",
    "mark_sent",
    "plan_held",
    "prune",
    "recent",
    "set_message_nonce",
    "spill_overflow",
    "story_message",
    "with_waiting_digest",
]
