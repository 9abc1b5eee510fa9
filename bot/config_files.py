"""Read the sources file (DESIGN 3.6) and the subscriptions file (DESIGN 3.3), strictly."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import tomli

from bot.domain.bulk import gc_paused
from bot.domain.errors import ConfigError, QueryError
from bot.domain.query import Query, parse_query
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


def _read_file(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def parse_sources(text: str, origin: str) -> list[SourceConfig]:
    """Parse a sources file; raise ConfigError naming the entry and the problem."""
    data = _read_toml(text, origin)
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
        if kind == "search":
            try:
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
    entries = data.get("subscription", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: expected [[subscription]] tables")
    with gc_paused():
        return _subscriptions(entries, origin, vendors)


def _subscriptions(entries: list[Any], origin: str, vendors: VendorCatalog) -> list[FileSubscription]:
    result: list[FileSubscription] = []
    names: set[str] = set()
    parsed: dict[str, Query] = {}  # identical queries (a popular vendor) are parsed once
    for n, entry in enumerate(entries, 1):
        where = f"{origin}: subscription {n}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table")
        name, query = entry.get("name"), entry.get("query")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: 'name' must be 1-64 letters, digits, - or _")
        if name in names:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        names.add(name)
        if not isinstance(query, str):
            raise ConfigError(f"{where} ({name}): 'query' is required")
        known = parsed.get(query)
        if known is None:
            try:
                known = parsed[query] = parse_query(query, vendors)
            except QueryError as exc:
                raise ConfigError(f"{where} ({name}): invalid query {exc}") from None
        result.append(FileSubscription(name, query, known))
    return result


def load_subscriptions(path: Path | None, vendors: VendorCatalog) -> list[FileSubscription]:
    """Load a subscriptions file, or the built-in starter subscriptions when path is None."""
    if path is None:
        text = resources.files("bot.data").joinpath("subscriptions.toml").read_text(encoding="utf-8")
        return parse_subscriptions(text, "built-in starter subscriptions", vendors)
    return parse_subscriptions(_read_file(path, "REGWATCH_SUBSCRIPTIONS_FILE"), str(path), vendors)
