"""Fetch a source from its mirror when the primary host refuses us (`options.mirror`).

US government hosts behind Akamai answer 403 to many cloud address ranges; CISA's KEV catalog
has an official GitHub mirror for exactly that. Rules, in order:

1. Fetch the primary URL as usual. Anything but a refusal (success, 304, 404, 5xx, timeouts) is
   returned or raised as it is: a server error is the primary's problem to report, not a reason to
   read possibly staler data.
2. On a refusal (HTTP 403) with a mirror configured, fetch the mirror once with the same
   validators and return its result; `FetchResult.url` then names the mirror. The stored
   validators may come from either host; an ETag from one never matches on the other, so the
   worst case is one full download.
3. If the mirror fails too, raise one FetchError naming both failures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.domain.errors import FetchError
from bot.sources.http import Fetcher, FetchResult, HTTPStatusError

log = logging.getLogger(__name__)

REFUSALS = frozenset({403})


def source_headers(options: Mapping[str, Any]) -> dict[str, str] | None:
    """Return the source's own request headers (`options.headers`), or None."""
    headers = options.get("headers")
    if not isinstance(headers, Mapping):
        return None
    return {str(k): str(v) for k, v in headers.items() if isinstance(v, str | int | float)}


def mirror_of(options: Mapping[str, Any]) -> str | None:
    """Return the source's mirror URL, or None when it has none."""
    mirror = options.get("mirror")
    return mirror.strip() if isinstance(mirror, str) and mirror.strip() else None


async def fetch_with_mirror(
    fetcher: Fetcher,
    url: str,
    options: Mapping[str, Any],
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    min_interval: float = 0.0,
) -> FetchResult:
    """Fetch `url`; when its host refuses (403) and `options.mirror` is set, fetch the mirror.

    `options.headers` (a table of strings) go to the source's own origin only: to the mirror
    only when it has the same scheme, host and port (bot/sources/http.py).
    """
    headers = source_headers(options)
    try:
        return await fetcher.fetch(
            url, etag=etag, last_modified=last_modified, headers=headers, min_interval=min_interval
        )
    except HTTPStatusError as exc:
        mirror = mirror_of(options)
        if exc.status not in REFUSALS or mirror is None:
            raise
        primary_error = exc
    log.info("%s refused us (%s); fetching the mirror %s", url, primary_error, mirror)
    try:
        return await fetcher.fetch(
            mirror, etag=etag, last_modified=last_modified, headers=headers, secret_origin=url
        )
    except FetchError as exc:
        raise FetchError(
            f"{primary_error}; the mirror failed too: {exc}", retry_after=exc.retry_after
        ) from None
