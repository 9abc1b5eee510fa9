"""First-hour mistakes an operator makes, through the real `regwatch` command (issue: admins)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from bot.container import database_volume_problem, mount_point
from tests.helpers import refused_port, with_items
from tests.test_cli import NASA, env_for, regwatch, sources_file

ROOT = Path(__file__).resolve().parent.parent
MOUNTINFO = Path("/proc/self/mountinfo")

STARTERS = Path(__file__).resolve().parent.parent / "bot" / "data" / "subscriptions.toml"


# --- 1. the Docker quick start keeps its data -------------------------------------------------


def test_the_example_env_file_overrides_nothing_when_docker_reads_it():
    # `docker run --env-file` takes every non-comment KEY=VALUE line literally.
    active = [
        line.split("=", 1)[0]
        for line in (ROOT / "settings.example.env").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert active == []


def test_mount_point_reads_mountinfo():
    info = (
        "22 1 253:1 / / rw,relatime - ext4 /dev/vda1 rw\n"
        "30 22 253:2 /volumes/regwatch-data/_data /data rw - ext4 /dev/vdb rw\n"
        "31 22 0:40 / /my\\040data rw - tmpfs tmpfs rw\n"
    )
    assert mount_point(Path("/data/regwatch.db"), info) == "/data"
    assert mount_point(Path("/data2/regwatch.db"), info) == "/"
    assert mount_point(Path("/home/regwatch/regwatch.db"), info) == "/"
    assert mount_point(Path("/my data/x.db"), info) == "/my data"


def test_volume_problem_is_fatal_in_the_image_and_a_warning_in_other_containers(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"22 1 253:1 / / rw - ext4 /dev/vda1 rw\n30 22 0:41 / {tmp_path}/vol rw - tmpfs t rw\n"
    )
    marker = tmp_path / ".dockerenv"
    outside, inside = tmp_path / "regwatch.db", tmp_path / "vol" / "regwatch.db"
    inside.parent.mkdir()  # a volume's mount point exists
    kw = {"mountinfo": mountinfo, "markers": (marker,)}
    assert database_volume_problem(outside, environ={}, **kw) is None  # not in a container
    problem = database_volume_problem(outside, environ={"REGWATCH_IN_CONTAINER": "1"}, **kw)
    assert problem is not None and problem.fatal and "not on a volume" in problem.message
    assert database_volume_problem(inside, environ={"REGWATCH_IN_CONTAINER": "1"}, **kw) is None
    marker.touch()
    warning = database_volume_problem(outside, environ={}, **kw)
    assert warning is not None and not warning.fatal


def _on_root(path: Path) -> bool:
    return mount_point(path.resolve(), MOUNTINFO.read_text()) == "/"


def _layout(tmp_path: Path) -> tuple[bool, bool]:
    """Return (tmp_path is on the root file system, /dev/shm is a mounted file system)."""
    if not MOUNTINFO.exists():
        return False, False
    shm = Path("/dev/shm")
    return _on_root(tmp_path), shm.is_dir() and not _on_root(shm)


async def test_the_image_refuses_to_run_with_its_database_outside_a_volume(tmp_path):
    tmp_on_root, shm_mounted = _layout(tmp_path)
    if not tmp_on_root:
        pytest.skip("needs /proc/self/mountinfo and a temporary folder on the root file system")
    extra = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path), "REGWATCH_IN_CONTAINER": "1"}
    code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("regwatch: REGWATCH_DATABASE_PATH:") and "not on a volume" in line
    assert not (tmp_path / "regwatch.db").exists()  # refused before anything was written

    if not shm_mounted:
        return
    folder = Path("/dev/shm") / f"regwatch-test-{uuid.uuid4().hex}"
    try:
        extra["REGWATCH_DATABASE_PATH"] = str(folder / "regwatch.db")  # a mounted file system
        code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
        assert code == 0, err
    finally:
        for child in folder.glob("*"):
            child.unlink()
        if folder.exists():
            folder.rmdir()


# --- 3. typos are errors ----------------------------------------------------------------------


async def test_a_misspelt_sources_table_or_key_is_an_error_with_its_line(tmp_path, feed_server):
    path = tmp_path / "typo.toml"
    path.write_text(f'[[sources]]\nname = "x"\nurl = "{feed_server.url("/f.xml")}"\n')
    code, _, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=str(path))
    assert code == 2
    assert f"{path}, line 1: unknown table or key 'sources'; did you mean 'source'?" in err
    path.write_text(f'[[source]]\nname = "x"\nurl = "{feed_server.url("/f.xml")}"\nintervall_seconds = 60\n')
    code, _, err = await regwatch(tmp_path, "poll", REGWATCH_SOURCES_FILE=str(path))
    assert code == 2 and "line 4: unknown key 'intervall_seconds' in [[source]]; did you mean" in err


async def test_an_unknown_key_in_the_subscriptions_file_is_an_error(tmp_path):
    subs = tmp_path / "mine.toml"
    subs.write_text('[[subscription]]\nname = "k"\nquery = "kaspersky"\ntarget = "console"\n')
    code, _, err = await regwatch(tmp_path, "match", "--subscriptions", str(subs), str(tmp_path / "none.xml"))
    assert code == 2 and f"{subs}, line 4: unknown key 'target' in [[subscription]]" in err


async def test_an_unknown_regwatch_variable_is_an_error_naming_the_close_one(tmp_path):
    code, out, err = await regwatch(tmp_path, "subs", "list", REGWATCH_DEV_GUILD_ID="123")
    assert code == 2 and out == ""
    assert err.strip() == (
        "regwatch: unknown variable REGWATCH_DEV_GUILD_ID; did you mean REGWATCH_DISCORD_DEV_GUILD_ID?"
    )
    (tmp_path / ".env").write_text("# mine\nREGWATCH_LOG_LEVEL=INFO\nREGWATCH_POLL_INTERVALL=60\n")
    code, _, err = await regwatch(tmp_path, "subs", "list")
    assert code == 2 and ".env, line 3: unknown variable REGWATCH_POLL_INTERVALL; did you mean" in err
    (tmp_path / ".env").unlink()
    # Variables that are not settings but are read elsewhere are fine.
    code, _, err = await regwatch(tmp_path, "subs", "list", REGWATCH_FAILPOINTS="", REGWATCH_IN_CONTAINER="")
    assert code == 0, err


async def test_query_typos_get_a_hint(tmp_path):
    code, out, err = await regwatch(tmp_path, "subs", "add", "vendor:Kaspersy")
    assert code == 0, err
    assert "did you mean vendor:Kaspersky?" in out
    code, out, err = await regwatch(tmp_path, "subs", "add", "huawei or zte")
    assert code == 0, err
    assert "'or' is searched as a word; write OR for the operator" in out


# --- 4. failures are visible ------------------------------------------------------------------


async def test_run_once_exits_1_when_every_source_failed(tmp_path):
    with refused_port() as port:
        extra = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path, f"http://127.0.0.1:{port}/feed.xml")}
        code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 1, err
    assert "polled 1 sources (1 failed)" in out and "check DNS/proxy" in out


async def test_the_service_logs_each_round_and_says_when_every_source_fails(tmp_path):
    with refused_port() as port:
        env = env_for(
            tmp_path,
            REGWATCH_SOURCES_FILE=sources_file(tmp_path, f"http://127.0.0.1:{port}/feed.xml"),
            REGWATCH_LOG_LEVEL="INFO",
        )
        (tmp_path / "subs.toml").write_text("")
        log = tmp_path / "run.log"
        with log.open("wb") as output:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stdout=output, stderr=output
            )
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while "check DNS/proxy" not in log.read_text():
                assert proc.returncode is None and asyncio.get_running_loop().time() < deadline, (
                    log.read_text()
                )
                await asyncio.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    text = log.read_text()
    assert "round: polled 1 sources (1 failed), 0 new items, 0 alerts" in text
    assert "all 1 sources are failing" in text


# --- 5. starter subscriptions -----------------------------------------------------------------


def _subs(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        return db.execute("SELECT name, origin FROM subscriptions ORDER BY id").fetchall()


async def test_starters_only_in_pure_console_mode_and_never_back_after_removal(tmp_path):
    extra = {"REGWATCH_SOURCES_FILE": sources_file(tmp_path), "REGWATCH_SUBSCRIPTIONS_FILE": ""}
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err
    starters = _subs(tmp_path)
    count = len(tomllib.loads(STARTERS.read_text(encoding="utf-8"))["subscription"])
    assert count >= 3 and [o for _, o in starters] == ["starter"] * count
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        first_id = db.execute("SELECT MIN(id) FROM subscriptions").fetchone()[0]
    code, _, err = await regwatch(tmp_path, "subs", "remove", str(first_id), **extra)
    assert code == 0, err
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert code == 0, err
    assert _subs(tmp_path) == starters[1:]  # not re-added
    # A token set: off in auto mode.
    code, _, err = await regwatch(tmp_path, "poll", REGWATCH_DISCORD_TOKEN="x.y.z", **extra)
    assert code == 0, err
    assert _subs(tmp_path) == []
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert _subs(tmp_path) == starters[1:]  # back in console mode, but never the removed one
    # Their own subscription: the starters go.
    code, out, err = await regwatch(tmp_path, "subs", "add", "vendor:Huawei", **extra)
    assert code == 0 and "→ console" in out, err
    code, _, err = await regwatch(tmp_path, "poll", **extra)
    assert [o for _, o in _subs(tmp_path)] == ["cli"]
    # Explicitly on: beside the user's own, still without the removed one.
    code, _, err = await regwatch(tmp_path, "poll", REGWATCH_STARTER_SUBSCRIPTIONS="on", **extra)
    assert sorted(o for _, o in _subs(tmp_path)) == ["cli"] + ["starter"] * (count - 1)
    code, _, err = await regwatch(tmp_path, "poll", REGWATCH_STARTER_SUBSCRIPTIONS="off", **extra)
    assert [o for _, o in _subs(tmp_path)] == ["cli"]


# --- 6. CLI output ----------------------------------------------------------------------------


async def test_tables_fit_the_terminal_and_links_stay_whole(tmp_path, feed_server):
    long_url = feed_server.url("/" + "a-very-long-path-segment/" * 6 + "feed.xml")
    feed_server.set("/" + "a-very-long-path-segment/" * 6 + "feed.xml", with_items(NASA))
    code, _, err = await regwatch(tmp_path, "sources", "add", long_url, "--name", "N" * 70)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "sources", "list", COLUMNS="80")
    assert code == 0, err
    lines = out.splitlines()
    assert long_url in [line.strip() for line in lines]  # whole, on its own line
    assert all(len(line) <= 80 for line in lines if line.strip() != long_url)
    code, out, _ = await regwatch(tmp_path, "sources", "list", COLUMNS="400")
    row = next(line for line in out.splitlines() if long_url in line)
    assert row.startswith("1 ") and len(row) <= 400  # wide enough: the link stays in its row


async def test_a_closed_pipe_ends_quietly(tmp_path):
    code, _, err = await regwatch(tmp_path, "subs", "add", "kaspersky")
    assert code == 0, err
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        db.executemany(
            "INSERT INTO subscriptions (name, query, target, created_by, created_at, origin)"
            " VALUES (?, ?, 'console', 'cli', '2026-01-01T00:00:00+00:00', 'cli')",
            [(f"s{n}", f"vendor:Huawei OR word{n} " + "x" * 60) for n in range(3000)],
        )
    # More than a pipe buffer of output: `head` exits while regwatch is still writing.
    env = env_for(tmp_path)
    proc = await asyncio.create_subprocess_shell(
        f"set -o pipefail; {sys.executable} -m bot subs list | head -n 1; echo status=$?",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        executable="/bin/bash",
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert out.decode().splitlines()[0].startswith("id")
    assert "status=141" in out.decode()
    assert "Traceback" not in err.decode() and "BrokenPipe" not in err.decode(), err.decode()


async def test_subs_add_defaults_to_the_console_and_loopback_refusal_names_the_setting(tmp_path, feed_server):
    code, out, err = await regwatch(tmp_path, "subs", "add", "kaspersky")
    assert code == 0 and "→ console" in out, err
    feed_server.set("/feed.xml", with_items(NASA))
    code, _, err = await regwatch(
        tmp_path, "sources", "add", feed_server.url("/feed.xml"), REGWATCH_ALLOW_PRIVATE_NETWORKS="false"
    )
    assert code == 1 and "127.0.0.1 is a loopback address" in err
    assert "REGWATCH_ALLOW_PRIVATE_NETWORKS=true" in err
    assert os.linesep not in err.strip()


# --- 9. subs edit mirrors /watch edit ---------------------------------------------------------


async def test_subs_edit_changes_a_subscription_in_place(tmp_path):
    code, out, err = await regwatch(tmp_path, "subs", "add", "kaspersky", "--name", "kl")
    assert code == 0, err
    sub_id = int(out.split()[1])
    db_path = tmp_path / "regwatch.db"

    def stored() -> tuple:
        with sqlite3.connect(db_path) as conn:
            return conn.execute(
                "SELECT query, target, paused, paused_reason, delivery_mode, digest_time, digest_day, name"
                " FROM subscriptions WHERE id = ?",
                (sub_id,),
            ).fetchone()

    code, out, err = await regwatch(
        tmp_path, "subs", "edit", str(sub_id), "--query", 'vendor:Kaspersky action:ban',
        "--target", "discord:123456789012345678", "--schedule", "weekly", "09:30", "mon", "--pause",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [
        f"subscription {sub_id} now watches vendor:Kaspersky action:ban → discord:123456789012345678",
        "delivery: weekly digest on Mon at 09:30",
        f"paused: its alerts are kept until `regwatch subs edit {sub_id} --resume`",
    ]
    assert stored() == (
        "vendor:Kaspersky action:ban", "discord:123456789012345678", 1,
        "paused with `regwatch subs edit`", "weekly", "09:30", 0, "kl",
    )  # fmt: skip
    code, out, err = await regwatch(tmp_path, "subs", "list", COLUMNS="300")
    assert "paused: paused with `regwatch subs edit`" in out and "weekly digest on Mon at 09:30" in out

    code, out, err = await regwatch(
        tmp_path, "subs", "edit", str(sub_id), "--resume", "--schedule", "instant", "--target", "console"
    )
    assert code == 0, err
    assert "paused" not in out and "delivery: instant" in out
    assert stored()[1:5] == ("console", 0, None, "instant")

    # A note for what the query probably meant, as for subs add and /watch edit.
    code, out, err = await regwatch(tmp_path, "subs", "edit", str(sub_id), "--query", "huawei or zte")
    assert code == 0 and out.startswith("note: ") and " OR " in out.splitlines()[0], (out, err)


async def test_subs_edit_refuses_what_watch_edit_refuses(tmp_path):
    code, out, err = await regwatch(tmp_path, "subs", "add", "kaspersky")
    sub_id = int(out.split()[1])
    before = sqlite3.connect(tmp_path / "regwatch.db").execute("SELECT * FROM subscriptions").fetchall()
    cases = [
        ((), "nothing to change: give --query, --target, --schedule, --pause or --resume"),
        (("--query", "kaspersky AND ("), "invalid query"),
        (("--target", "slack:general"), "a target is 'console' or 'discord:CHANNEL_ID', not 'slack:general'"),
        (("--schedule", "daily"), "a daily digest needs a time, HH:MM (e.g. 09:00)"),
        (("--schedule", "weekly", "09:00", "someday"), "day must be one of mon, tue"),
    ]
    for extra, message in cases:
        code, out, err = await regwatch(tmp_path, "subs", "edit", str(sub_id), *extra)
        assert code == 2 and message in err and out == "", (extra, err)
    code, _, err = await regwatch(tmp_path, "subs", "edit", str(sub_id + 50), "--pause")
    assert code == 2 and err.strip() == f"regwatch: no subscription with id {sub_id + 50}"
    code, _, err = await regwatch(tmp_path, "subs", "edit", str(sub_id), "--pause", "--resume")
    assert code == 2 and "not allowed with argument" in err
    after = sqlite3.connect(tmp_path / "regwatch.db").execute("SELECT * FROM subscriptions").fetchall()
    assert after == before  # nothing half-done
