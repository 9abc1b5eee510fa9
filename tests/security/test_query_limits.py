"""Queries: bounded length, terms and depth; regexes only through RE2 with a size limit; a query that
would be slow or invalid is rejected when the subscription is made, with the position and reason.

The limits live in bot/domain/query.py (MAX_QUERY_LENGTH, MAX_TERMS, MAX_DEPTH, MAX_REGEX_LENGTH,
MAX_REGEX_PROGRAM_SIZE, REGEX_MAX_MEM); every parser error is listed in tests/domain/test_query.py.
Here they are checked where a user meets them: `regwatch subs add` and `/watch keywords`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc
from bot.domain.query import MAX_QUERY_LENGTH, MAX_TERMS, parse_query
from bot.storage import subscriptions
from bot.storage.db import connect
from tests.chat.running import Regwatch

# (query, words the refusal must contain): each would be too big, too slow or meaningless.
REFUSED: list[tuple[str, str]] = [
    ("x" * (MAX_QUERY_LENGTH + 1), f"the query is longer than {MAX_QUERY_LENGTH} characters"),
    (" OR ".join(f"w{i}" for i in range(MAX_TERMS + 1)), f"the query has more than {MAX_TERMS} terms"),
    ("(" * 25 + "kaspersky" + ")" * 25, "nests more than 20 levels"),
    ("/" + "a" * 301 + "/", "the regular expression is longer than 300 characters"),
    (r"/\pL{40}\pN{40}/", "too complex"),
    ("/(((a{100}){100}){100})/", "invalid regular expression"),
    ("/(a+)+$/ OR /a*/", "matches empty text"),
    ("/(?P<x>a)(?P=x)/", "invalid regular expression"),  # backreferences: not linear, not in RE2
    ("/(?=a)b/", "invalid regular expression"),  # lookahead: not in RE2
    ("a NEAR/1000 b", "NEAR distance can be at most 50"),
    ("di*", "a prefix needs at least 3 letters"),
    ("-huawei", "would match items that contain none of its terms"),
    ("kaspersky AND (ban", "missing closing parenthesis"),
]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run `regwatch` in this process against a fresh database."""
    for name in list(os.environ):
        if name.startswith("REGWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGWATCH_DATABASE_PATH", str(tmp_path / "regwatch.db"))
    monkeypatch.setenv("REGWATCH_LOG_LEVEL", "ERROR")
    yield tmp_path / "regwatch.db"


@pytest.mark.parametrize(("query", "reason"), REFUSED)
def test_subs_add_refuses_with_position_and_reason(
    cli_env: Path, capsys: pytest.CaptureFixture[str], query: str, reason: str
) -> None:
    code = cli.main(["subs", "add", "--target", "console", "--", query])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("regwatch: invalid query: ") and reason in err, err
    assert "^ (position " in err
    assert subscriptions.list_subscriptions(connect(cli_env)) == []


def test_queries_at_the_limits_are_accepted(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    at_limit = [
        " OR ".join(f"w{i}" for i in range(MAX_TERMS)),
        "(" * 19 + "kaspersky" + ")" * 19,
        "/" + "a" * 300 + "/",
        "/(a+)+$/",  # catastrophic for a backtracking engine; linear in RE2
    ]
    for query in at_limit:
        assert cli.main(["subs", "add", "--target", "console", "--", query]) == 0, capsys.readouterr().err
    assert len(subscriptions.list_subscriptions(connect(cli_env))) == len(at_limit)


def test_a_backtracking_pattern_runs_in_linear_time_on_hostile_text() -> None:
    # With Python's re this is 2**50 steps; RE2 answers at once (the test would hang otherwise).
    matcher = Matcher([(1, parse_query(r"/(a|aa)+$/")), (2, parse_query(r"/(x+x+)+y/"))])
    hostile = "a" * 50 + "!" + " " + "x" * 5_000
    assert list(matcher.match(MatchDoc(title=hostile, summary="", source="s", action=None))) == []
    hits = matcher.match(MatchDoc(title="x" * 5_000 + "y", summary="", source="s", action=None))
    assert [m.subscription_id for m in hits] == [2]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (" OR ".join(f"w{i}" for i in range(MAX_TERMS + 1)), "more than 50 terms"),
        ("/(?P<x>a)(?P=x)/", "invalid regular expression"),
        (r"/\pL{40}\pN{40}/", "too complex"),
    ],
)
async def test_watch_keywords_refuses_with_position_and_reason(
    app: Regwatch, query: str, reason: str
) -> None:
    result = await app.fake.invoke("watch keywords", options={"query": query})
    assert result.ephemeral
    assert result.content.startswith("That query is not valid: ") and reason in result.content, result.content
    assert "(position " in result.content
    assert await app.services.adb.call(subscriptions.list_subscriptions) == []


async def test_watch_keywords_option_is_bounded_by_discord_too(app: Regwatch) -> None:
    # The option is synced with max_length 1000, so Discord itself refuses a longer query.
    watch = app.fake.commands.find("watch", app.fake.guild.id)
    assert watch is not None
    keywords = next(o for o in watch["options"] if o["name"] == "keywords")
    query = next(o for o in keywords["options"] if o["name"] == "query")
    assert query["max_length"] == MAX_QUERY_LENGTH
