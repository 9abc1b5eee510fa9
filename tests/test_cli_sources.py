"""`regwatch sources add` stores the kind its check detected, so the source polls; duplicates exit 2."""

from __future__ import annotations

import sqlite3

import pytest

from tests.test_cli import regwatch, sources_file

KEV = "cisa_kev_2025-08-18_truncated.json"
FEDERAL_REGISTER = "federalregister_documents_search_presidential_truncated.json"


@pytest.mark.parametrize(
    ("fixture", "kind", "checked", "items"),
    [
        (KEV, "cisa_kev", "checked: CISA KEV catalog with 246 items", 246),
        (FEDERAL_REGISTER, "federal_register", "checked: Federal Register API answer with 37 items", 37),
    ],
)
async def test_a_json_api_source_is_stored_with_its_kind_and_then_polls(
    tmp_path, feed_server, fixture, kind, checked, items
):
    # Before: the check read any kind but the row said `feed`, so every poll failed to parse.
    url = feed_server.serve_fixture("/api.json", fixture, content_type="application/json")
    only_this = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path)}  # no catalog source is polled
    code, out, err = await regwatch(tmp_path, "sources", "add", url, **only_this)
    assert code == 0, err
    assert out.splitlines()[0] == checked
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        source_id, stored_kind = db.execute("SELECT id, kind FROM sources WHERE url = ?", (url,)).fetchone()
    assert stored_kind == kind

    code, out, err = await regwatch(tmp_path, "poll", "--source", str(source_id), **only_this)
    assert code == 0, (out, err)
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        failures, last_error, last_ok = db.execute(
            "SELECT failures, last_error, last_ok_at FROM sources WHERE id = ?", (source_id,)
        ).fetchone()
        stored = db.execute("SELECT COUNT(*) FROM items WHERE source_id = ?", (source_id,)).fetchone()[0]
    assert (failures, last_error) == (0, None) and last_ok is not None
    assert stored == items
    code, out, _ = await regwatch(tmp_path, "sources", "list", **only_this)
    assert kind in out


async def test_a_duplicate_subscription_is_refused_with_exit_2(tmp_path):
    code, out, err = await regwatch(tmp_path, "subs", "add", "vendor:Kaspersky", "--name", "kl")
    assert code == 0, err
    sub_id = out.split()[1]
    # The same query to the same target.
    code, out, err = await regwatch(tmp_path, "subs", "add", "vendor:Kaspersky")
    assert (code, out) == (2, "")
    assert err.strip() == f"regwatch: console already has this subscription (id {sub_id})."
    # A name taken: the database's unique name, reported as the same kind of error.
    code, out, err = await regwatch(tmp_path, "subs", "add", "huawei", "--name", "kl")
    assert (code, out, err.strip()) == (2, "", "regwatch: a subscription named 'kl' exists already")
    # The same query to another target is another subscription.
    code, _, err = await regwatch(
        tmp_path, "subs", "add", "vendor:Kaspersky", "--target", "discord:123456789012345678"
    )
    assert code == 0, err
