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
    guild_id INTEGER,                        -- (dropped by m008: see source_owners)
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
    # the delivery planner then decides (bot/storage/delivery_settings.py: plan_held).
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
def m008_message_nonce(db: Database) -> None:
    """The nonce of the message an alert was composed into, saved before its first POST.

    A re-send after a crash rebuilds exactly that message (same alerts, same nonce), so Discord's
    nonce check drops it even when new alerts arrived meanwhile.
    """
    db.execute("ALTER TABLE outbox ADD COLUMN message_nonce TEXT")


@migrations()
def m009_item_context(db: Database) -> None:
    """Keep a page-watch row's context (page title, nearest heading) for `source:` and `why`."""
    db.execute("ALTER TABLE items ADD COLUMN page_title TEXT")
    db.execute("ALTER TABLE items ADD COLUMN heading TEXT")


@migrations()
def m010_private_sources(db: Database) -> None:
    """Make a server's own sources private: one row per URL (one fetch), one owner row per server.

    `sources.shared` is 1 for the catalog and sources added from the command line (every
    subscription sees their items) and 0 for sources only servers added: those are seen only by
    the subscriptions of the servers in `source_owners`, each under the name it gave. An owner
    row's id is the id that server sees; ids of sources and owner rows come from one sequence
    (bot/storage/sources.py `_next_id`), so a server never sees two things with the same id.
    """
    db.execute("ALTER TABLE sources ADD COLUMN shared INTEGER NOT NULL DEFAULT 1")
    db.execute(
        "CREATE TABLE source_owners (id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL REFERENCES"
        " sources(id) ON DELETE CASCADE, guild_id INTEGER NOT NULL, name TEXT NOT NULL,"
        " interval_seconds INTEGER, created_at TEXT NOT NULL, UNIQUE(source_id, guild_id))"
    )
    db.execute("CREATE INDEX source_owners_guild ON source_owners(guild_id)")
    # Existing servers' sources: the server keeps the id it knows (the source's own id).
    db.execute(
        "INSERT INTO source_owners (id, source_id, guild_id, name, interval_seconds, created_at)"
        " SELECT id, id, guild_id, name, interval_seconds, created_at FROM sources"
        " WHERE origin = 'discord' AND guild_id IS NOT NULL"
    )
    db.execute("UPDATE sources SET shared = 0 WHERE origin = 'discord'")
    db.execute("ALTER TABLE sources DROP COLUMN guild_id")


_TRIAGE = [
    # Who may press Acknowledge and Mute on alerts besides members with Manage Server.
    "ALTER TABLE guild_settings ADD COLUMN triage_role_id INTEGER",
    """
CREATE TABLE alert_acks (
    alert_id INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    at TEXT NOT NULL
)""",
    # An alert that a mute holds back gets status 'muted': kept for the audit trail, never sent.
    """
CREATE TABLE mutes (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER,
    target TEXT NOT NULL,                    -- discord:CHANNEL_ID
    kind TEXT NOT NULL,                      -- vendor | subscription
    key TEXT NOT NULL,                       -- the catalog vendor's name, or the subscription id
    until TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    alert_id INTEGER                         -- the alert whose button made it
)""",
    "CREATE INDEX mutes_target ON mutes(target, until)",
    # Who did what, when: acknowledgements, mutes and subscription changes (alerts are the outbox).
    """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    guild_id INTEGER,
    actor TEXT,                              -- discord:USER_ID, cli, file; NULL when not known
    event TEXT NOT NULL,                     -- alert.acknowledged, mute.added, subscription.added, ...
    alert_id INTEGER,
    subscription_id INTEGER,
    target TEXT,
    title TEXT,                              -- alert events: the item's title and link, kept even after
    link TEXT,                               -- retention or a removed subscription deletes the alert
    detail TEXT NOT NULL DEFAULT ''
)""",
    # An alert's outcome (sent, failed for good, muted) is logged once, whichever code path set it.
    """
CREATE TRIGGER audit_alert_outcome AFTER UPDATE OF status ON outbox
WHEN NEW.status IN ('sent', 'failed', 'muted') AND OLD.status != NEW.status BEGIN
    INSERT INTO audit_log (at, guild_id, actor, event, alert_id, subscription_id, target, title, link, detail)
    SELECT COALESCE(NEW.sent_at, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')), s.guild_id, 'regwatch',
           'alert.' || NEW.status, NEW.id, NEW.subscription_id, NEW.target, i.title, i.link,
           'matched: ' || NEW.terms || COALESCE('; ' || NEW.last_error, '')
    FROM subscriptions s, items i WHERE s.id = NEW.subscription_id AND i.id = NEW.item_id;
END""",
    "CREATE INDEX audit_log_guild_at ON audit_log(guild_id, at)",
    # Per-channel presentation: 'full' embeds, or 'compact' ones (short excerpt, no subscription field).
    """
CREATE TABLE channel_settings (
    target TEXT PRIMARY KEY,                 -- discord:CHANNEL_ID
    guild_id INTEGER,
    embed_style TEXT NOT NULL DEFAULT 'full'
)""",
    # Every front end (slash command, CLI, subscriptions file) adds and removes subscriptions through
    # these rows, so triggers see every change; a slash command then names who removed one.
    """
CREATE TRIGGER audit_subs_ins AFTER INSERT ON subscriptions BEGIN
    INSERT INTO audit_log (at, guild_id, actor, event, subscription_id, target, detail)
    VALUES (NEW.created_at, NEW.guild_id, NEW.created_by, 'subscription.added', NEW.id, NEW.target,
            NEW.query);
END""",
    """
CREATE TRIGGER audit_subs_del AFTER DELETE ON subscriptions BEGIN
    INSERT INTO audit_log (at, guild_id, actor, event, subscription_id, target, detail)
    VALUES (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), OLD.guild_id, NULL, 'subscription.removed',
            OLD.id, OLD.target, OLD.query);
END""",
    """
CREATE TRIGGER audit_subs_query AFTER UPDATE OF query, target ON subscriptions
WHEN OLD.query != NEW.query OR OLD.target != NEW.target BEGIN
    INSERT INTO audit_log (at, guild_id, actor, event, subscription_id, target, detail)
    VALUES (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), NEW.guild_id, NULL, 'subscription.changed',
            NEW.id, NEW.target, NEW.query);
END""",
]


@migrations()
def m011_triage_and_audit(db: Database) -> None:
    """Acknowledgements, mutes, the triage role, per-channel embed style, and an audit log."""
    for statement in _TRIAGE:
        db.execute(statement)


@migrations()
def m012_items_classified(db: Database) -> None:
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
def m013_items_full_text(db: Database) -> None:
    """Index stored items' title and text with FTS5, to preselect what a preview reads."""
    for statement in _ITEMS_FTS:
        db.execute(statement)


@migrations()
def m014_outbox_without_triggers(db: Database) -> None:
    """Drop the outbox's triggers: bot/storage/outbox decides held alerts and audits outcomes itself.

    The hold trigger ran a subquery per inserted alert and the outcome trigger one per status
    change; enqueue() and the mark_* functions now do both in the same transaction, in Python.
    """
    db.execute("DROP TRIGGER IF EXISTS outbox_hold")
    db.execute("DROP TRIGGER IF EXISTS audit_alert_outcome")


@migrations()
def m015_channel_webhooks(db: Database) -> None:
    """Let a channel's alerts go out through a webhook of its own, with a custom name and avatar."""
    columns = ("webhook_id INTEGER", "webhook_token TEXT", "webhook_name TEXT", "webhook_avatar_url TEXT")
    for column in columns:
        db.execute(f"ALTER TABLE channel_settings ADD COLUMN {column}")


@migrations()
def m016_items_non_ascii_index(db: Database) -> None:
    """Index the items with non-ASCII text by fetch time: a preview reads them without a scan."""
    db.execute("CREATE INDEX items_non_ascii ON items(fetched_at) WHERE non_ascii = 1")


@migrations()
def m017_leases(db: Database) -> None:
    """Add leases: which process holds a channel's delivery or a chore, and until when (storage/leases.py)."""
    db.execute(
        "CREATE TABLE leases (kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL,"
        " token TEXT NOT NULL UNIQUE, until TEXT NOT NULL, PRIMARY KEY (kind, key))"
    )


@migrations()
def m018_channel_send_times(db: Database) -> None:
    """Keep each channel's recent send times: its rate cap holds across processes (send_times.py)."""
    db.execute("CREATE TABLE channel_sends (target TEXT NOT NULL, sent_at TEXT NOT NULL)")
    db.execute("CREATE INDEX channel_sends_target ON channel_sends(target, sent_at)")


def schema_version(db: Database) -> int:
    """Return how many migrations have been applied."""
    return len(migrations.applied(db))


def latest_version() -> int:
    """Return how many migrations this code knows."""
    return len(migrations._migrations)
