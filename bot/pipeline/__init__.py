"""The poll pipeline: fetch, parse, store new items, match, enqueue alerts; and the tick."""
