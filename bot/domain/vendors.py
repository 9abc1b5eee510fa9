"""The vendor catalog: canonical names, every alias a news item may use, and the legal instruments
that designate vendors by statute ("section 889 of the ... Act for Fiscal Year 2019" names Huawei,
ZTE, Hytera, Hikvision and Dahua).

An instrument's phrases are matched like aliases of each vendor it names (so `vendor:DJI` finds an
item that cites only section 1709 of the FY2025 NDAA), but they never resolve a `vendor:` name and
may name several vendors; `instrument_label` says which instrument a phrase cites, for "via ..."
explanations. Phrases always carry the statute with the section ("section 889" alone names nothing).
"""

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
    instruments: tuple[str, ...] = ()  # phrases of the legal instruments that designate it

    @property
    def all_names(self) -> tuple[str, ...]:
        """Return the canonical name, every alias, then the phrases of instruments naming it."""
        return (self.name, *self.aliases, *self.instruments)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A statute or rule that designates vendors by name, and the phrases that cite it."""

    label: str  # short name shown in explanations: "NDAA FY2019 s.889"
    vendors: tuple[str, ...]
    phrases: tuple[str, ...]


class VendorCatalog:
    """Vendors looked up by any of their names, case- and accent-insensitively."""

    def __init__(self, vendors: Iterable[Vendor], instruments: Iterable[Instrument] = ()) -> None:
        self._instruments = tuple(instruments)
        self._labels: dict[str, str] = {}
        phrases: dict[str, list[str]] = {}
        for instrument in self._instruments:
            for phrase in instrument.phrases:
                key = fold(phrase).strip()
                if not key:
                    raise ConfigError(f"instrument {instrument.label!r} has an empty phrase")
                self._labels[key] = instrument.label
                for name in instrument.vendors:
                    phrases.setdefault(name, []).append(phrase)
        given = tuple(vendors)
        unknown = set(phrases) - {vendor.name for vendor in given}
        if unknown:
            raise ConfigError(f"an instrument names {sorted(unknown)[0]!r}, which is not a catalog vendor")
        self._vendors = tuple(
            Vendor(v.name, v.aliases, v.country, v.note, (*v.instruments, *phrases.get(v.name, ())))
            for v in given
        )
        self._by_key: dict[str, Vendor] = {}
        for vendor in self._vendors:
            for name in (vendor.name, *vendor.aliases):
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

    def instrument_label(self, phrase: str) -> str | None:
        """Return the label of the instrument a phrase cites ("NDAA FY2025 s.1709"), or None."""
        return self._labels.get(fold(phrase).strip())

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """Return the legal instruments, in catalog order."""
        return self._instruments

    def names(self) -> tuple[str, ...]:
        """Return the canonical names, in catalog order."""
        return tuple(vendor.name for vendor in self._vendors)

    def __iter__(self) -> Iterator[Vendor]:
        return iter(self._vendors)

    def __len__(self) -> int:
        return len(self._vendors)

    @classmethod
    def from_toml_text(cls, text: str) -> VendorCatalog:
        """Build a catalog from TOML text: `[[vendor]]` (name, aliases, country, note) and
        `[[instrument]]` (label, vendors, phrases) tables."""
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
        instruments = []
        for index, entry in enumerate(data.get("instrument", [])):
            label = entry.get("label") if isinstance(entry, dict) else None
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"instrument #{index + 1} has no label")
            named = entry.get("vendors", [])
            phrases = entry.get("phrases", [])
            for key, value in (("vendors", named), ("phrases", phrases)):
                if not value or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"instrument {label!r}: {key} must be a non-empty list of strings")
            instruments.append(Instrument(label.strip(), tuple(named), tuple(p.strip() for p in phrases)))
        return cls(vendors, instruments)

    @classmethod
    def load_default(cls) -> VendorCatalog:
        """Return the built-in catalog from bot/data/vendors.toml (read once)."""
        return _default_catalog()


@cache
def _default_catalog() -> VendorCatalog:
    text = resources.files("bot.data").joinpath("vendors.toml").read_text(encoding="utf-8")
    return VendorCatalog.from_toml_text(text)
