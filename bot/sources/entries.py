"""Entries converted on demand: a parsed document's items, identified first, made into text later.

A poll of a feed whose items are mostly known needs every item's identity but only the new items'
text, dates and links. `LazyEntries` is the fast path's `ParsedFeed.entries`: a read-only sequence
of `Entry` that converts an item (HTML to text, dates, links) the first time it is read, and whose
`identities()` reads only the fields identity needs (a unique guid needs nothing else).
Reading it whole gives exactly the entries an eager parse gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, overload

from bot.domain.identity import IdentityFields, assign_identities
from bot.domain.models import Entry

__all__ = ["LazyEntries", "RawEntry", "identities_of"]


class RawEntry(IdentityFields, Protocol):
    """One item as a parser read it; each field is converted (and kept) when first read."""

    def entry(self) -> Entry: ...


class LazyEntries(Sequence[Entry]):
    """A read-only sequence of entries, each converted from its raw item when first read."""

    __slots__ = ("_entries", "_identities", "_raw")

    def __init__(self, raw: Sequence[RawEntry], identities: list[str] | None = None) -> None:
        self._raw = list(raw)
        self._entries: list[Entry | None] = [None] * len(self._raw)
        known = identities is not None and len(identities) == len(self._raw)
        self._identities = identities if known else None

    def __reduce__(self) -> tuple[type[LazyEntries], tuple[list[RawEntry], list[str]]]:
        # Sent from a parse worker with the identities found there: the receiver (the poller)
        # dedupes without reading a field, and converts only the entries that are new.
        return (LazyEntries, (self._raw, self.identities()))

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> Entry: ...
    @overload
    def __getitem__(self, index: slice) -> LazyEntries: ...
    def __getitem__(self, index: int | slice) -> Entry | LazyEntries:
        if isinstance(index, slice):
            return LazyEntries(self._raw[index])
        entry = self._entries[index]
        if entry is None:
            entry = self._entries[index] = self._raw[index].entry()
        return entry

    def __iter__(self) -> Iterator[Entry]:
        for index in range(len(self._raw)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable cache, compared by value like a list

    def __repr__(self) -> str:
        return f"LazyEntries({len(self._raw)} entries)"

    def identities(self) -> list[str]:
        """Return each entry's identity, converting only the fields that identity needs (once)."""
        if self._identities is None:
            self._identities = assign_identities(self._raw)
        return list(self._identities)

    def converted(self) -> int:
        """Return how many entries have been converted so far (for tests and benchmarks)."""
        return sum(entry is not None for entry in self._entries)


def identities_of(entries: Sequence[Entry]) -> list[str]:
    """Return the entries' identities; lazily when they are LazyEntries."""
    if isinstance(entries, LazyEntries):
        return entries.identities()
    return assign_identities(entries)
