"""Read the candidates of a preview: the stored items a query may match, newest first.

The full-text index (migration 13, `bot/domain/prefilter.py`) gives the ASCII items that can
match; items with non-ASCII text are always candidates (a partial index holds them). The
candidates' ids are gathered from those two indexes first and only then joined with the items,
so a selective query reads only its few rows instead of walking every item of the period. A
query with more candidates than the limit walks the period newest first instead, and stops at
the limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot.domain.clock import iso
from bot.domain.prefilter import EVERY, NONE
from bot.storage.db import is_postgres
from bot.storage.sources import ITEM_VISIBLE, options_of, seen_name

if TYPE_CHECKING:
    from bot.storage.items import StoredItem

_COLUMNS = (
    "i.id, i.source_id, {name}, i.title, i.text, i.link, i.published, i.fetched_at, i.action,"
    " i.first_poll, i.page_title, i.heading, s.options, i.classified"
)


def candidates(
    db: Database, since: datetime, limit: int, fts: str, *, guild_id: int | None = None
) -> list[StoredItem]:
    """Return at most `limit` candidate items fetched since a time, newest first.

    `fts` is `bot.domain.prefilter.fts_filter`'s answer: an FTS5 expression, EVERY or NONE.
    With `guild_id`, only items of the sources that server sees, under the name it gave them.
    """
    from bot.storage.items import stored_item  # items imports this module

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
    if fts == EVERY:
        sql = (
            f"SELECT {columns} FROM items i JOIN sources s ON s.id = i.source_id"
            f" WHERE i.fetched_at >= ?{scope} ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?"
        )
        params: tuple[Any, ...] = (*name_params, when, *scope_params, limit)
    else:
        ids = "SELECT id FROM items WHERE non_ascii = 1 AND fetched_at >= ?"
        id_params: tuple[Any, ...] = (when,)
        if fts != NONE:
            ids = f"SELECT rowid AS id FROM items_fts WHERE items_fts MATCH ? UNION {ids}"
            id_params = (fts, when)
        if fts != NONE and _more_than(db, fts, limit):
            # Many candidates (a query most items match): walk the period's items newest first by
            # the fetched_at index, keep those among the candidates, stop at the limit; then read
            # only those rows. Joining every candidate's row first cost 0.8 s at 500,000.
            newest = (
                "SELECT i.id AS id FROM items i INDEXED BY items_fetched_at"
                f" JOIN sources s ON s.id = i.source_id WHERE i.fetched_at >= ? AND i.id IN ({ids}){scope}"
                " ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?"
            )
            sql = (
                f"SELECT {columns} FROM ({newest}) c CROSS JOIN items i ON i.id = c.id"
                " JOIN sources s ON s.id = i.source_id ORDER BY i.fetched_at DESC, i.id DESC"
            )
            params = (*name_params, when, *id_params, *scope_params, limit)
        else:
            # CROSS JOIN keeps this order: candidates' ids first, then each row by its id (a
            # selective query reads only its few rows).
            sql = (
                f"SELECT {columns} FROM ({ids}) c CROSS JOIN items i ON i.id = c.id"
                " JOIN sources s ON s.id = i.source_id"
                f" WHERE i.fetched_at >= ?{scope} ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?"
            )
            params = (*name_params, *id_params, when, *scope_params, limit)
    options: dict[object, dict[str, Any]] = {}  # a source's options, parsed once per read
    out: list[StoredItem] = []
    for r in db.execute(sql, params).fetchall():
        found = options.get(r[12])
        if found is None:
            found = options[r[12]] = options_of(r[12])
        out.append(stored_item(r, since, dict(found)))
    return out


def _more_than(db: Database, fts: str, limit: int) -> bool:
    """Tell whether the full-text index holds at least `limit` candidates (a capped count: cheap)."""
    capped = "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?)"
    return int(db.execute(capped, (fts, limit)).fetchone()[0]) >= limit
