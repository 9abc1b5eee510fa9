"""The vendor catalog: canonical names and every alias a news item may use for them."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bot.domain.errors import ConfigError
from bot.domain.text import fold


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor: its canonical name and its aliases (legal, former and non-Latin names)."""

    name: str
    aliases: tuple[str, ...] = ()
    country: str | None = None
    note: str | None = None

    @property
    def all_names(self) -> tuple[str, ...]:
        """Return the canonical name followed by every alias."""
        return (self.name, *self.aliases)


class VendorCatalog:
    """Vendors looked up by any of their names, case- and accent-insensitively."""

    def __init__(self, vendors: Iterable[Vendor]) -> None:
        self._vendors = tuple(vendors)
        self._by_key: dict[str, Vendor] = {}
        for vendor in self._vendors:
            for name in vendor.all_names:
                key = fold(name).strip()
                if not key:
                    raise ConfigError(f"vendor {vendor.name!r} has an empty name or alias")
                other = self._by_key.get(key)
                # One spelling naming two vendors would make vendor: queries ambiguous.
                if other is not None and other is not vendor:
                    raise ConfigError(f"{name!r} names both {other.name!r} and {vendor.name!r}")
                self._by_key[key] = vendor

    def lookup(self, name: str) -> Vendor | None:
        """Return the vendor known by `name` (canonical name or alias), or None."""
        return self._by_key.get(fold(name).strip())

    def names(self) -> tuple[str, ...]:
        """Return the canonical names, in catalog order."""
        return tuple(vendor.name for vendor in self._vendors)

    def __iter__(self) -> Iterator[Vendor]:
        return iter(self._vendors)

    def __len__(self) -> int:
        return len(self._vendors)

    @classmethod
    def from_toml_text(cls, text: str) -> VendorCatalog:
        """Build a catalog from TOML text with `[[vendor]]` tables (name, aliases, country, note)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"vendor catalog is not valid TOML: {exc}") from exc
        entries = data.get("vendor", [])
        if not isinstance(entries, list):
            raise ConfigError("vendor catalog: use [[vendor]] tables")
        vendors = []
        for index, entry in enumerate(entries):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"vendor #{index + 1} has no name")
            aliases = entry.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise ConfigError(f"vendor {name!r}: aliases must be a list of strings")
            country = entry.get("country")
            note = entry.get("note")
            vendors.append(
                Vendor(
                    name=name.strip(),
                    aliases=tuple(a.strip() for a in aliases),
                    country=country if isinstance(country, str) else None,
                    note=note if isinstance(note, str) else None,
                )
            )
        return cls(vendors)

    @classmethod
    def load_default(cls) -> VendorCatalog:
        """Return the built-in catalog from bot/data/vendors.toml (read once)."""
        return _default_catalog()


@cache
def _default_catalog() -> VendorCatalog:
    text = resources.files("bot.data").joinpath("vendors.toml").read_text(encoding="utf-8")
    return VendorCatalog.from_toml_text(text)
