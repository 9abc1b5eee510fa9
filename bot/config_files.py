"""Read the sources file and the subscriptions file (docs/sources.md, docs/query-language.md), strictly."""

from __future__ import annotations

import difflib
import re
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import tomli

from bot.domain.bulk import gc_paused
from bot.domain.errors import ConfigError, QueryError
from bot.domain.query import Query, parse_query
from bot.domain.semantics import check_semantics
from bot.domain.vendors import VendorCatalog
from bot.sources.search import check_template
from bot.storage.sources import SourceConfig

SOURCE_KINDS = ("feed", "federal_register", "cisa_kev", "csaf_rolie", "html", "search")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FileSubscription(NamedTuple):
    """One [[subscription]] of a subscriptions file, with its query already parsed."""

    name: str
    query: str
    parsed: Query


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        with gc_paused():
            return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None


SOURCE_KEYS = ("name", "url", "kind", "interval_seconds", "options", "enabled")
SUBSCRIPTION_KEYS = ("name", "query")


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; expected {', '.join(choices)}"


def _line_of(text: str, pattern: str, start: int = 0, nth: int = 1) -> int:
    """Return the 1-based line of the `nth` match at or after line `start` (0 when not found)."""
    compiled = re.compile(pattern)
    for number, line in enumerate(text.splitlines()[start:], start):
        if compiled.match(line):
            nth -= 1
            if not nth:
                return number + 1
    return 0


def _at(origin: str, line: int) -> str:
    return f"{origin}, line {line}" if line else origin


def check_keys(text: str, origin: str, data: dict[str, Any], table: str, keys: tuple[str, ...]) -> None:
    """Raise ConfigError for a misspelt table ([[sources]]) or an unknown key in one of its entries.

    A typo would otherwise be ignored in silence: no sources (or no subscriptions) and exit 0.
    """
    for name in data:
        if name != table:
            line = _line_of(text, rf"\s*\[+\s*{re.escape(name)}\s*[\].]")
            line = line or _line_of(text, rf"\s*{re.escape(name)}\s*=")
            raise ConfigError(
                f"{_at(origin, line)}: unknown table or key {name!r}{_did_you_mean(name, (table,))}"
            )
    entries = data.get(table, [])
    if not isinstance(entries, list):
        return
    # Lines are looked up only for an error: the text is split once, not once per entry.
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        for key in entry:
            if key not in keys:
                start = _line_of(text, rf"\s*\[\[\s*{re.escape(table)}\s*\]\]", nth=index + 1)
                line = _line_of(text, rf"\s*{re.escape(key)}\s*=", start)
                raise ConfigError(
                    f"{_at(origin, line)}: unknown key {key!r} in [[{table}]]{_did_you_mean(key, keys)}"
                )


def _read_file(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def parse_sources(text: str, origin: str) -> list[SourceConfig]:
    """Parse a sources file; raise ConfigError naming the entry and the problem."""
    data = _read_toml(text, origin)
    check_keys(text, origin, data, "source", SOURCE_KEYS)
    entries = data.get("source", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: expected [[source]] tables")
    result: list[SourceConfig] = []
    urls: set[str] = set()
    for n, entry in enumerate(entries, 1):
        where = f"{origin}: source {n}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table")
        name, url, kind = entry.get("name"), entry.get("url"), entry.get("kind", "feed")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: 'name' is required")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where} ({name}): 'url' must be an http(s) URL")
        if kind not in SOURCE_KINDS:
            raise ConfigError(
                f"{where} ({name}): unknown kind {kind!r}; use one of {', '.join(SOURCE_KINDS)}"
            )
        interval = entry.get("interval_seconds")
        if interval is not None and (not isinstance(interval, int) or interval < 5):
            raise ConfigError(f"{where} ({name}): 'interval_seconds' must be an integer >= 5")
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(f"{where} ({name}): 'options' must be a table")
        try:
            check_semantics(options)
            if kind == "search":
                check_template(url, options)
        except ConfigError as exc:
            raise ConfigError(f"{where} ({name}): {exc}") from None
        if url in urls:
            raise ConfigError(f"{where} ({name}): duplicate url {url}")
        urls.add(url)
        if entry.get("enabled", True) is False:
            continue
        result.append(SourceConfig(name.strip(), url, kind, interval, options))
    return result


def load_sources(path: Path | None) -> list[SourceConfig]:
    """Load the sources file, or the built-in catalog when path is None."""
    if path is None:
        text = resources.files("bot.data").joinpath("sources.toml").read_text(encoding="utf-8")
        return parse_sources(text, "built-in catalog")
    return parse_sources(_read_file(path, "REGWATCH_SOURCES_FILE"), str(path))


def parse_subscriptions(text: str, origin: str, vendors: VendorCatalog) -> list[FileSubscription]:
    """Parse a subscriptions file, validating every name and query; each query text is parsed once."""
    data = _read_toml(text, origin)
    check_keys(text, origin, data, "subscription", SUBSCRIPTION_KEYS)
    entries = data.get("subscription", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: expected [[subscription]] tables")
    with gc_paused():
        return _subscriptions(entries, origin, vendors)


def _subscriptions(entries: list[Any], origin: str, vendors: VendorCatalog) -> list[FileSubscription]:
    result: list[FileSubscription] = []
    names: set[str] = set()
    parsed: dict[str, Query] = {}  # identical queries (a popular vendor) are parsed once
    valid_name = _NAME.match
    for n, entry in enumerate(entries, 1):
        # Where an error is, said only for an error: 100,000 entries pass here at start.
        if not isinstance(entry, dict):
            raise ConfigError(f"{origin}: subscription {n}: expected a table")
        name, query = entry.get("name"), entry.get("query")
        if not isinstance(name, str) or not valid_name(name):
            raise ConfigError(f"{origin}: subscription {n}: 'name' must be 1-64 letters, digits, - or _")
        if name in names:
            raise ConfigError(f"{origin}: subscription {n}: duplicate name {name!r}")
        names.add(name)
        if not isinstance(query, str):
            raise ConfigError(f"{origin}: subscription {n} ({name}): 'query' is required")
        known = parsed.get(query)
        if known is None:
            try:
                known = parsed[query] = parse_query(query, vendors)
            except QueryError as exc:
                raise ConfigError(f"{origin}: subscription {n} ({name}): invalid query {exc}") from None
        result.append(FileSubscription(name, query, known))
    return result


def load_subscriptions(path: Path | None, vendors: VendorCatalog) -> list[FileSubscription]:
    """Load a subscriptions file, or the built-in starter subscriptions when path is None."""
    if path is None:
        text = resources.files("bot.data").joinpath("subscriptions.toml").read_text(encoding="utf-8")
        return parse_subscriptions(text, "built-in starter subscriptions", vendors)
    return parse_subscriptions(_read_file(path, "REGWATCH_SUBSCRIPTIONS_FILE"), str(path), vendors)
