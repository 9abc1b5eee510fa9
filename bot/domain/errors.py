"""The error hierarchy: caught at the boundary, shown to people in plain words."""

from __future__ import annotations


class RegwatchError(Exception):
    """Base of every error regwatch raises on purpose."""


class ConfigError(RegwatchError):
    """A setting, file or argument is invalid; the process exits 2."""


class FetchError(RegwatchError):
    """A source could not be fetched (network, HTTP status, size cap)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ParseError(RegwatchError):
    """A fetched document is not a feed we can read."""


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
