"""Read the candidates of a preview: the stored items a query may match, newest first.

The full-text index (migration 13, `bot/domain/prefilter.py`) gives the ASCII items that can
match; items with non-ASCII text are always candidates (a partial index holds them). The
candidates' ids are gathered from those two indexes first and only then joined with the items,
so a selective query reads only its few rows instead of walking every item of the period. A
query with more candidates than the limit walks the period newest first instead, in chunks,
asks the index only about each chunk's id range, and stops at the limit.

Rows come back as `Candidate` tuples, not `StoredItem`s: a dense preview reads 50,000 of them and
shows five, and building every `StoredItem` (dates parsed, a frozen dataclass) cost a quarter of
its time. `Candidate.stored()` builds the `StoredItem` of a shown one.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlite_utils import Database

from bot.domain.bulk import gc_paused
from bot.domain.clock import iso, parse_iso
from bot.domain.prefilter import EVERY, NONE
from bot.storage.db import is_postgres
from bot.storage.sources import ITEM_VISIBLE, options_of, seen_name

if TYPE_CHECKING:
    from bot.storage.items import StoredItem

# In `Candidate`'s order; the period's start follows.
_ITEM_COLUMNS = (
    "i.id, i.source_id, i.title, i.text, i.link, i.published, i.fetched_at, i.action, i.first_poll,"
    " i.page_title, i.heading, i.classified"
)
_COLUMNS = _ITEM_COLUMNS + ", {name}, s.options"
# Ids walked in the first chunk, beyond the limit itself; later chunks are sized by the share of
# candidates found so far.
_SLACK = 1_000
# A chunk whose ids spread over more than this many times its size (ids not in fetch order) is
# not worth an index range of its own: the index's whole answer is read once instead.
_SPREAD = 4
_new = tuple.__new__  # a Candidate from a row plus the period's start, without a call per field


class Candidate(NamedTuple):
    """A candidate item as read: what matching needs, with `StoredItem`'s names; `stored()` for the rest."""

    id: int
    source_id: int
    title: str
    text: str
    link: str | None
    published_text: str | None
    fetched_text: str
    action: str | None
    first_poll: int
    page_title: str | None
    heading: str | None
    classified_flag: int
    source_name: str
    options_text: str | None
    since: datetime  # the period's start (what `StoredItem.fetched_at` falls back to)

    @property
    def published(self) -> datetime | None:
        """Return when the item was published, if known."""
        return parse_iso(self.published_text)

    @property
    def fetched_at(self) -> datetime:
        """Return when the item was fetched."""
        return parse_iso(self.fetched_text) or self.since

    @property
    def classified(self) -> bool:
        """Tell whether `action` is the classifier's answer (False: never classified)."""
        return bool(self.classified_flag)

    @property
    def source_options(self) -> dict[str, Any]:
        """Return what the item's source declares."""
        return dict(_options(self.options_text))

    def stored(self) -> StoredItem:
        """Build the item's `StoredItem`."""
        from bot.storage.items import stored_item  # items imports this module

        # In the order of `bot.storage.items.recent`'s columns, which `stored_item` reads.
        row = (
            self.id,
            self.source_id,
            self.source_name,
            *self[2:11],
            self.options_text,
            self.classified_flag,
        )
        return stored_item(row, self.since, self.source_options)


@lru_cache(maxsize=1024)
def _options(raw: str | None) -> dict[str, Any]:
    return options_of(raw)  # callers copy it: the cached dict is never changed


def candidates(
    db: Database, since: datetime, limit: int, fts: str, *, guild_id: int | None = None
) -> list[Candidate]:
    """Return at most `limit` candidate items fetched since a time, newest first.

    `fts` is `bot.domain.prefilter.fts_filter`'s answer: an FTS5 expression, EVERY or NONE.
    With `guild_id`, only items of the sources that server sees, under the name it gave them.
    """
    # 50,000 rows make tens of thousands of tuples: collections walking them all took up to a
    # third of the read.
    with gc_paused():
        return _read(db, since, limit, fts, guild_id)


def _read(db: Database, since: datetime, limit: int, fts: str, guild_id: int | None) -> list[Candidate]:
    if is_postgres(db):
        fts = EVERY  # no FTS5 there: every item of the period is a candidate, the matcher decides
    scope_params: tuple[Any, ...] = ()
    if guild_id is None:
        name, scope = "s.name", ""
    else:
        name, scope, scope_params = seen_name(), f" AND {ITEM_VISIBLE}", (guild_id,)
    columns = _COLUMNS.format(name=name)
    name_params: tuple[Any, ...] = (guild_id,) if guild_id is not None else ()
    when = iso(since)
    if fts not in (EVERY, NONE) and _more_than(db, fts, limit):
        # Many candidates (a query most items match): find the newest `limit` by walking the
        # period, then read only those rows by id (json_each: one statement), and their sources'
        # names apart (joining them row by row cost a quarter of the read).
        ids = _newest(db, when, fts, limit, scope, scope_params)
        rows = db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM json_each(?) c CROSS JOIN items i ON i.id = c.value",
            ("[" + ",".join(map(str, ids)) + "]",),
        ).fetchall()
        sources = {
            r[0]: (r[1], r[2], since)
            for r in db.execute(f"SELECT s.id, {name}, s.options FROM sources s", name_params)
        }
        by_id = {r[0]: r for r in rows}
        # An item deleted since the walk (pruned meanwhile) is simply not there.
        return [_new(Candidate, r + sources[r[1]]) for i in ids if (r := by_id.get(i)) is not None]
    if fts == EVERY:
        sql = (
            f"SELECT {columns} FROM items i JOIN sources s ON s.id = i.source_id"
            f" WHERE i.fetched_at >= ?{scope} ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?"
        )
        params: tuple[Any, ...] = (*name_params, when, *scope_params, limit)
    else:
        ids_sql = "SELECT id FROM items WHERE non_ascii = 1 AND fetched_at >= ?"
        id_params: tuple[Any, ...] = (when,)
        if fts != NONE:
            ids_sql = f"SELECT rowid AS id FROM items_fts WHERE items_fts MATCH ? UNION {ids_sql}"
            id_params = (fts, when)
        # CROSS JOIN keeps this order: candidates' ids first, then each row by its id (a
        # selective query reads only its few rows).
        sql = (
            f"SELECT {columns} FROM ({ids_sql}) c CROSS JOIN items i ON i.id = c.id"
            " JOIN sources s ON s.id = i.source_id"
            f" WHERE i.fetched_at >= ?{scope} ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?"
        )
        params = (*name_params, *id_params, when, *scope_params, limit)
    return [_new(Candidate, (*r, since)) for r in db.execute(sql, params).fetchall()]


def _newest(
    db: Database, when: str, fts: str, limit: int, scope: str, scope_params: tuple[Any, ...]
) -> list[int]:
    """Return the ids of the newest `limit` candidates fetched since `when`, newest first.

    Walks the period's ids newest first by the fetched_at index, a chunk at a time, and asks the
    full-text index only about the chunk's id range (`rowid BETWEEN`: the index seeks to it), so
    the walk stops after a chunk or two when most items are candidates. Asking for the index's
    whole answer up front cost 0.2 s at 1M items for a query half of them match.
    """
    non_ascii = {
        r[0] for r in db.execute("SELECT id FROM items WHERE non_ascii = 1 AND fetched_at >= ?", (when,))
    }
    join = " JOIN sources s ON s.id = i.source_id" if scope else ""
    walk = db.execute(
        f"SELECT i.id FROM items i INDEXED BY items_fetched_at{join} WHERE i.fetched_at >= ?{scope}"
        " ORDER BY i.fetched_at DESC, i.id DESC",
        (when, *scope_params),
    )
    out: list[int] = []
    whole: set[int] | None = None  # the index's whole answer, once chunks stop being ranges
    walked = 0
    while len(out) < limit:
        # Enough ids to find the candidates still missing at the share found so far, plus slack.
        missing = limit - len(out)
        size = missing + _SLACK if not out else int(missing * walked / len(out) * 1.2) + _SLACK
        chunk = [r[0] for r in walk.fetchmany(size)]
        walked += len(chunk)
        if not chunk:
            break
        low, high = min(chunk), max(chunk)
        if whole is not None:
            found = whole
        elif high - low + 1 > _SPREAD * len(chunk):
            found = whole = {
                r[0] for r in db.execute("SELECT rowid FROM items_fts WHERE items_fts MATCH ?", (fts,))
            }
        else:
            found = {
                r[0]
                for r in db.execute(
                    "SELECT rowid FROM items_fts WHERE items_fts MATCH ? AND rowid BETWEEN ? AND ?",
                    (fts, low, high),
                )
            }
        out.extend(i for i in chunk if i in found or i in non_ascii)
    walk.close()
    return out[:limit]


def _more_than(db: Database, fts: str, limit: int) -> bool:
    """Tell whether the full-text index holds at least `limit` candidates (a capped count: cheap)."""
    capped = "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?)"
    return int(db.execute(capped, (fts, limit)).fetchone()[0]) >= limit
