"""Query-driven sources (`kind = "search"`): one URL per term set, from the source's template.

The source's URL holds `{terms}` where the search text goes, URL-encoded::

    https://www.federalregister.gov/api/v1/documents.json?conditions%5Bterm%5D={terms}&order=newest

Options (all optional):

- `parse_as`: the kind that reads each answer (`feed` by default; `federal_register`, ...);
- `join`: how a term set's alternatives are joined in one search (`" OR "` by default; the
  Federal Register wants `" | "`);
- `split_terms`: true for a server without OR (GOV.UK): each term is searched on its own;
- `max_queries`: distinct term sets fetched per poll, most-subscribed first (default 20);
- `min_interval_seconds`: the least time between two requests to the host (default 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

from bot.domain.errors import ConfigError
from bot.domain.search import TermSet, search_text
from bot.sources.federal_register import with_fields

PLACEHOLDER = "{terms}"
DEFAULT_MAX_QUERIES = 20
DEFAULT_MIN_INTERVAL = 1.0


def check_template(url: str, options: Mapping[str, Any]) -> None:
    """Refuse a search source whose URL or options cannot work, with the reason."""
    if url.count(PLACEHOLDER) != 1:
        raise ConfigError(
            f"a search source's URL must contain {PLACEHOLDER} once, where the search text goes"
        )
    parse_as = options.get("parse_as", "feed")
    if parse_as == "search" or not isinstance(parse_as, str):
        raise ConfigError("a search source's parse_as must name another kind, such as feed")
    for name in ("max_queries", "min_interval_seconds"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise ConfigError(f"a search source's {name} must be a number of at least 0")


def sample_url(url: str) -> str:
    """Return the template with a harmless search text, for URL checks."""
    return url.replace(PLACEHOLDER, "test")


def search_url(template: str, terms: TermSet, options: Mapping[str, Any]) -> str:
    """Return the URL that searches for one term set."""
    join = options.get("join", " OR ")
    text = search_text(terms, join=join if isinstance(join, str) else " OR ")
    url = template.replace(PLACEHOLDER, quote_plus(text))
    # Federal Register answers carry only the fields asked for (action, excerpts: see there).
    return with_fields(url) if parse_kind(options) == "federal_register" else url


def parse_kind(options: Mapping[str, Any]) -> str:
    """Return the kind that reads the answers."""
    kind = options.get("parse_as", "feed")
    return kind if isinstance(kind, str) else "feed"


def max_queries(options: Mapping[str, Any]) -> int:
    """Return how many term sets one poll may fetch."""
    value = options.get("max_queries", DEFAULT_MAX_QUERIES)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return DEFAULT_MAX_QUERIES


def min_interval(options: Mapping[str, Any]) -> float:
    """Return the least time in seconds between two requests to the source's host."""
    value = options.get("min_interval_seconds", DEFAULT_MIN_INTERVAL)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return DEFAULT_MIN_INTERVAL
