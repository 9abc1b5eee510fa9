"""Entries converted on demand: a parsed document's items, identified first, made into text later.

A poll of a feed whose items are mostly known needs every item's identity but only the new items'
text, dates and links. `LazyEntries` is the fast path's `ParsedFeed.entries`: a read-only sequence
of `Entry` that converts an item (HTML to text, dates, links) the first time it is read, and whose
`identities()` reads only the fields identity needs (a unique guid needs nothing else).
Reading it whole gives exactly the entries an eager parse gives.

`preselect` runs a parse where it is cheapest to answer (the parse worker) with the identities
the source is believed to have stored: it returns every identity, but converts and sends only the
entries not believed stored (`Preselected`). The belief is a hint, never the truth: the poller
still dedupes against the stored set, and an entry the stored set calls new that was not sent
raises `NotSent`, on which the poller parses the document again, whole.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from typing import Any, Protocol, overload

from bot.domain.identity import IdentityFields, assign_identities, canonical_link, link_key
from bot.domain.models import Entry, ParsedFeed

__all__ = ["LazyEntries", "NotSent", "Preselected", "RawEntry", "identities_of", "preselect"]


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


class NotSent(LookupError):
    """An entry a preselection left out (believed stored) was asked for."""


# One sent entry: the entry, its canonical link and its link key (computed where it was parsed).
Sent = tuple[Entry, str | None, str | None]


class Preselected(Sequence[Entry]):
    """A document's entries of which only those not believed stored were converted and sent.

    Every identity is there, in document order; reading an entry left out raises NotSent.
    """

    __slots__ = ("_identities", "_sent")

    def __init__(self, identities: list[str], sent: list[Sent | None]) -> None:
        self._identities = identities
        self._sent = sent

    def __reduce__(self) -> tuple[type[Preselected], tuple[list[str], list[Sent | None]]]:
        return (Preselected, (self._identities, self._sent))

    def __len__(self) -> int:
        return len(self._sent)

    @overload
    def __getitem__(self, index: int) -> Entry: ...
    @overload
    def __getitem__(self, index: slice) -> Preselected: ...
    def __getitem__(self, index: int | slice) -> Entry | Preselected:
        if isinstance(index, slice):
            return Preselected(self._identities[index], self._sent[index])
        return self.sent(index)[0]

    def __iter__(self) -> Iterator[Entry]:
        for index in range(len(self._sent)):
            yield self[index]

    def __repr__(self) -> str:
        sent = sum(one is not None for one in self._sent)
        return f"Preselected({len(self._sent)} entries, {sent} sent)"

    def identities(self) -> list[str]:
        """Return each entry's identity, in document order."""
        return list(self._identities)

    def sent(self, index: int) -> Sent:
        """Return (entry, canonical link, link key) of a sent entry; raise NotSent otherwise."""
        one = self._sent[index]
        if one is None:
            raise NotSent(f"entry {index} ({self._identities[index]!r}) was believed stored and not sent")
        return one

    def sent_count(self) -> int:
        """Return how many entries were converted and sent (for tests and benchmarks)."""
        return sum(one is not None for one in self._sent)


def preselect(
    known: Collection[str], parse: Callable[..., ParsedFeed], /, *args: Any, **kwargs: Any
) -> ParsedFeed:
    """Parse, then keep converted only the entries whose identity is not in `known` (a hint).

    Meant to run in the parse worker: what crosses back is every identity plus the few new
    entries, already converted (text, dates, canonical links), instead of every raw item.
    """
    feed = parse(*args, **kwargs)
    entries = feed.entries
    identities = identities_of(entries)
    sent: list[Sent | None] = []
    for index, identity in enumerate(identities):
        if identity in known:
            sent.append(None)
            continue
        entry = entries[index]
        sent.append((entry, canonical_link(entry.link), link_key(entry.link)))
    return replace(feed, entries=Preselected(identities, sent))


def identities_of(entries: Sequence[Entry]) -> list[str]:
    """Return the entries' identities; without reading them when they are LazyEntries or Preselected."""
    if isinstance(entries, LazyEntries | Preselected):
        return entries.identities()
    return assign_identities(entries)
