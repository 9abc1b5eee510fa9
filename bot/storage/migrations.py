"""Schema migrations: one function per step, each applied in its own transaction."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("regwatch")


# sqlite3's executescript() commits first, so each statement runs on its own inside the
# migration's transaction.
_INITIAL = [
    """
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'feed',
    options TEXT NOT NULL DEFAULT '{}',
    interval_seconds INTEGER,
    origin TEXT NOT NULL DEFAULT 'cli',      -- config (catalog or sources file), cli, discord
    guild_id INTEGER,                        -- the server that added it, for discord sources
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,
    next_check_at TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    failing_since TEXT,
    last_polled_at TEXT,
    last_ok_at TEXT,
    last_new_item_at TEXT,
    primed INTEGER NOT NULL DEFAULT 0,       -- 1 after the first successful poll recorded items
    item_count INTEGER NOT NULL DEFAULT 0
);
    """,
    """
CREATE INDEX sources_due ON sources(enabled, next_check_at);
    """,
    """
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    identity TEXT NOT NULL,
    guid TEXT,
    link TEXT,
    canonical_link TEXT,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published TEXT,
    fetched_at TEXT NOT NULL,
    action TEXT,
    UNIQUE(source_id, identity)
);
    """,
    """
CREATE INDEX items_canonical_link ON items(canonical_link);
    """,
    """
CREATE INDEX items_fetched_at ON items(fetched_at);
    """,
    """
CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE,
    query TEXT NOT NULL,
    target TEXT NOT NULL,                    -- console | discord:CHANNEL_ID
    guild_id INTEGER,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT 'cli',      -- file, cli, discord
    mention_role_id INTEGER,
    paused INTEGER NOT NULL DEFAULT 0,
    paused_reason TEXT
);
    """,
    """
CREATE INDEX subscriptions_guild ON subscriptions(guild_id);
    """,
    """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    link_key TEXT NOT NULL,                  -- canonical link, else the item id: one alert per target
    terms TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'pending',  -- pending, sent, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    external_id TEXT,
    UNIQUE(target, link_key)
);
    """,
    """
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    """,
    # Bumped on every subscription change so a running service rebuilds its matcher,
    # whichever process (CLI, Discord command) made the change.
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    """
INSERT INTO meta VALUES ('subscriptions_version', 0);
    """,
    """
CREATE TRIGGER subs_ins AFTER INSERT ON subscriptions BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'subscriptions_version'; END;
    """,
    """
CREATE TRIGGER subs_upd AFTER UPDATE ON subscriptions BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'subscriptions_version'; END;
    """,
    """
CREATE TRIGGER subs_del AFTER DELETE ON subscriptions BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'subscriptions_version'; END;
    """,
]


@migrations()
def m001_initial(db: Database) -> None:
    """Create sources, items, subscriptions and the outbox."""
    for statement in _INITIAL:
        db.execute(statement)


@migrations()
def m002_discord_targets(db: Database) -> None:
    """Remember where a subscription was made, pause with a retry time, and first-poll items."""
    db.execute("ALTER TABLE subscriptions ADD COLUMN origin_channel_id INTEGER")
    db.execute("ALTER TABLE subscriptions ADD COLUMN paused_until TEXT")
    db.execute("ALTER TABLE items ADD COLUMN first_poll INTEGER NOT NULL DEFAULT 0")


@migrations()
def m003_outbox_item_indexes(db: Database) -> None:
    """Index the outbox by item and subscription: deleting either must not scan every alert."""
    db.execute("CREATE INDEX IF NOT EXISTS outbox_item ON outbox(item_id)")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_subscription ON outbox(subscription_id)")


_SCHEDULES = [
    "ALTER TABLE subscriptions ADD COLUMN delivery_mode TEXT NOT NULL DEFAULT 'instant'",
    "ALTER TABLE subscriptions ADD COLUMN digest_time TEXT",  # HH:MM local; hourly: its minute
    "ALTER TABLE subscriptions ADD COLUMN digest_day INTEGER",  # weekly: 0 = Monday
    "ALTER TABLE subscriptions ADD COLUMN urgent_instant INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE subscriptions ADD COLUMN mention_only TEXT NOT NULL DEFAULT ''",  # action types, severities
    "ALTER TABLE outbox ADD COLUMN overflow INTEGER NOT NULL DEFAULT 0",  # moved to a digest by a rate cap
    # Kept apart from subscriptions: a digest going out must not bump the matcher's version.
    """
CREATE TABLE digest_state (
    subscription_id INTEGER PRIMARY KEY REFERENCES subscriptions(id) ON DELETE CASCADE,
    last_digest_at TEXT NOT NULL             -- the end of the last period sent; the next one starts here
)""",
    # guild_id 0 holds the settings of subscriptions made without a server (console, CLI).
    """
CREATE TABLE guild_settings (
    guild_id INTEGER PRIMARY KEY,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    rate_limit INTEGER,                      -- messages per rate_window seconds per channel
    rate_window INTEGER,
    overflow_cap INTEGER                     -- alerts waiting per channel before the rest wait for a digest
)""",
    """
CREATE TABLE quiet_hours (
    guild_id INTEGER NOT NULL,
    target TEXT NOT NULL,                    -- discord:CHANNEL_ID, console, or * for every channel
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    urgent_bypass INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (guild_id, target)
)""",
    # Hold, in the transaction that enqueues it, an alert that a schedule or quiet hours may delay;
    # the delivery planner then decides (bot/storage/schedules.py: plan_held).
    """
CREATE TRIGGER outbox_hold AFTER INSERT ON outbox WHEN NEW.status = 'pending' AND (
    EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = NEW.subscription_id AND s.delivery_mode != 'instant')
    OR EXISTS (SELECT 1 FROM quiet_hours q JOIN subscriptions s ON s.id = NEW.subscription_id
               WHERE q.guild_id = COALESCE(s.guild_id, 0) AND q.target IN (NEW.target, '*')))
BEGIN UPDATE outbox SET status = 'held' WHERE id = NEW.id; END""",
]


@migrations()
def m004_schedules(db: Database) -> None:
    """Add delivery schedules, digest state, per-server settings, quiet hours and the hold trigger."""
    for statement in _SCHEDULES:
        db.execute(statement)


@migrations()
def m005_alert_explanations_and_stories(db: Database) -> None:
    """Store why each alert was made, and which earlier alert of the same story it adds to."""
    db.execute("ALTER TABLE outbox ADD COLUMN explanation TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE outbox ADD COLUMN story_of INTEGER REFERENCES outbox(id) ON DELETE SET NULL")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_target_created ON outbox(target, created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_story ON outbox(story_of)")


@migrations()
def m006_search_queries(db: Database) -> None:
    """Remember which term sets each search source has fetched: a new one's first answer only primes."""
    db.execute(
        "CREATE TABLE search_queries (source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,"
        " terms TEXT NOT NULL, first_polled_at TEXT NOT NULL, last_polled_at TEXT NOT NULL,"
        " PRIMARY KEY (source_id, terms)) WITHOUT ROWID"
    )


@migrations()
def m007_source_notices(db: Database) -> None:
    """Notices about failing or silent sources, raised once per episode and delivered durably."""
    db.execute("ALTER TABLE sources ADD COLUMN notice TEXT")  # 'failing' | 'silent' | NULL
    db.execute("ALTER TABLE sources ADD COLUMN notice_at TEXT")
    db.execute(
        "CREATE TABLE notices (id INTEGER PRIMARY KEY, source_id INTEGER REFERENCES sources(id)"
        " ON DELETE CASCADE, target TEXT NOT NULL, text TEXT NOT NULL, created_at TEXT NOT NULL,"
        " sent_at TEXT, attempts INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute("CREATE INDEX notices_pending ON notices(sent_at, id)")


@migrations()
def m008_items_classified(db: Database) -> None:
    """Mark which items were classified: only those that some subscription needed are, now."""
    db.execute("ALTER TABLE items ADD COLUMN classified INTEGER NOT NULL DEFAULT 1")
    db.execute("UPDATE items SET classified = 0 WHERE first_poll = 1")  # stored unclassified before


_ITEMS_FTS = [
    # Full-text index over title and text for previews (bot/domain/prefilter.py), kept in step
    # with the items table by triggers; `non_ascii` items are always candidates.
    """CREATE VIRTUAL TABLE items_fts USING fts5(title, text, content='items', content_rowid='id',
    tokenize='unicode61')""",
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text); END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF title, text ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
    INSERT INTO items_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END""",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
    "ALTER TABLE items ADD COLUMN non_ascii INTEGER NOT NULL DEFAULT 1",
    # char(1)-char(127): ASCII. Items stored before are checked once here; new ones by the writer.
    "UPDATE items SET non_ascii = ((title || ' ' || text) GLOB '*[^' || char(1) || '-' || char(127) || ']*')",
]


@migrations()
def m009_items_full_text(db: Database) -> None:
    """Index stored items' title and text with FTS5, to preselect what a preview reads."""
    for statement in _ITEMS_FTS:
        db.execute(statement)


def schema_version(db: Database) -> int:
    """Return how many migrations have been applied."""
    return len(migrations.applied(db))


def latest_version() -> int:
    """Return how many migrations this code knows."""
    return len(migrations._migrations)
