"""The statuses of an outbox row and the moves between them."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """Where an alert stands. Only bot/storage/outbox moves a row from one status to another.

    ```
                    enqueue (in the poll's transaction)
                   /                               \\
      instant, no quiet hours          digest mode or quiet hours apply
                 v                                   v
              PENDING <------------ plan_held ---- HELD
               | | | ^                               |
               | | | '- retry (attempts + 1,         '-- plan_held --> DIGEST
               | | |     next_attempt_at)                               |  ^
               | | '------- spill_overflow (over the channel's cap) ---|--'
               | '-- sink refused for good --> FAILED                   |
               '---- sink confirmed ---------> SENT <-- finish_digest --'

      PENDING, HELD, DIGEST --- apply_mutes (a mute covers it) ---> MUTED
    ```

    SENT, FAILED and MUTED are outcomes: each is written once to the audit log when a row
    reaches it, and retention deletes SENT and FAILED rows after the cutoff. One move leaves an
    outcome: a row muted while its message was being posted is marked SENT when the sink
    confirms, because it was.
    """

    PENDING = "pending"  # due at next_attempt_at
    HELD = "held"  # waiting for the planner: a digest schedule or quiet hours may delay it
    DIGEST = "digest"  # waiting for its subscription's next digest
    SENT = "sent"  # the sink confirmed it (external_id: the message)
    FAILED = "failed"  # refused for good; kept for inspection
    MUTED = "muted"  # a mute covers it: kept for the audit trail, never sent

    def may_become(self, other: Status) -> bool:
        """Tell whether an alert in this status may move to `other` (the diagram above)."""
        return other in TRANSITIONS[self]


WAITING = (Status.PENDING, Status.HELD, Status.DIGEST)
OUTCOMES = (Status.SENT, Status.FAILED, Status.MUTED)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.SENT, Status.FAILED, Status.DIGEST, Status.MUTED}),
    Status.HELD: frozenset({Status.PENDING, Status.DIGEST, Status.MUTED}),
    Status.DIGEST: frozenset({Status.SENT, Status.MUTED}),
    Status.SENT: frozenset(),
    Status.FAILED: frozenset(),
    Status.MUTED: frozenset({Status.SENT}),  # muted while its message was in flight
}
