"""The error hierarchy: caught at the boundary, shown to people in plain words.

```
RegwatchError
├── ConfigError              a setting, file or argument is invalid (the CLI exits 2)
├── UserError                a request cannot be done; the text is shown to the person as is
│   ├── ScheduleError        a schedule, time, day, time zone or quiet-hours value is invalid
│   └── DuplicateSubscription  the subscription exists already (same name, or same query and target)
├── FetchError               a source could not be fetched
├── ParseError               a fetched document is not a feed we can read
│   └── WrongShape           it is JSON of another kind (the next adapter may read it)
├── QueryError               a subscription query is invalid (position and reason)
└── DeliveryError            a sink could not deliver an alert
```

The CLI maps ConfigError, UserError and QueryError to exit 2 and the rest to exit 1; the chat
layer's one error handler (bot/chat/client.py) answers UserError, QueryError and a missing
permission ephemerally.
"""

from __future__ import annotations


class RegwatchError(Exception):
    """Base of every error regwatch raises on purpose."""


class ConfigError(RegwatchError):
    """A setting, file or argument is invalid; the process exits 2."""


class UserError(RegwatchError):
    """A request a person made that cannot be done; the message is shown to them as is."""


class ScheduleError(UserError):
    """A schedule, time, day, time zone or quiet-hours value is invalid; the text is shown as is."""


class DuplicateSubscription(UserError):
    """The subscription exists already: `existing_id` when known (same query and target), else by name."""

    def __init__(self, message: str, *, existing_id: int | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class FetchError(RegwatchError):
    """A source could not be fetched (network, HTTP status, size cap)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ParseError(RegwatchError):
    """A fetched document is not a feed we can read."""


class WrongShape(ParseError):
    """A document is well-formed JSON of another kind than the adapter reads (another adapter may)."""


class QueryError(RegwatchError):
    """A subscription query is invalid; carries the 0-based position and the reason."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"at position {position + 1}: {reason}")
        self.reason = reason
        self.position = position


class DeliveryError(RegwatchError):
    """A sink could not deliver an alert.

    `permanent`: retrying will not help. `refused`: the far side answered that it made nothing
    (a 4xx such as 403, 404 or 429), as opposed to a failure after which a message may exist
    (a 5xx, a timeout, a dropped connection).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        refused: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.refused = permanent if refused is None else refused
