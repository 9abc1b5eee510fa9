"""Digests from the command line, in console mode: schedule, two polls, then `digest run`."""

from __future__ import annotations

import logging
import sqlite3

from bot.cli import main
from tests.helpers import rss_item, with_items
from tests.test_cli import NASA, env_for, regwatch, sources_file


async def test_console_daily_digest_collects_two_polls_and_prints_one_block(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    src = sources_file(tmp_path, feed_server.url("/f.xml"))
    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0 and "First poll" in out, err
    code, out, err = await regwatch(tmp_path, "subs", "list")
    sub_id = next(line.split()[0] for line in out.splitlines() if "kaspersky-actions" in line)

    code, out, err = await regwatch(tmp_path, "subs", "schedule", sub_id, "daily", "09:00")
    assert code == 0, err
    assert out.strip() == f"subscription {sub_id}: daily digest at 09:00 (UTC)"
    code, out, err = await regwatch(tmp_path, "subs", "list")
    [row] = [line for line in out.splitlines() if "kaspersky-actions" in line]
    assert "daily digest at 09:00" in row

    first = rss_item("Kaspersky antivirus found on agency laptops", "https://news.example/k1")
    feed_server.set("/f.xml", with_items(NASA, first))
    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    assert "ALERT" not in out and "DIGEST" not in out
    second = rss_item("Kaspersky opens a transparency centre", "https://news.example/k2")
    feed_server.set("/f.xml", with_items(NASA, second, first))
    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    assert "ALERT" not in out and "DIGEST" not in out
    assert "delivered 0 alerts; 2 alerts wait for their digest (`regwatch digest run` sends them now)." in out

    code, out, err = await regwatch(tmp_path, "digest", "run")
    assert code == 0, err
    assert out.count("DIGEST ") == 1, out
    block = out.split("DIGEST ", 1)[1]
    assert "Daily digest at 09:00 for subscription kaspersky-actions: 2 alerts" in block
    assert "Kaspersky · other news (2)" in block
    # Newest first, with links.
    assert block.index("transparency centre") < block.index("agency laptops")
    assert "https://news.example/k1" in block and "https://news.example/k2" in block
    assert "sent 1 digests with 2 alerts." in out

    # Sent once: the next run has nothing waiting.
    code, out, err = await regwatch(tmp_path, "digest", "run")
    assert code == 0 and "DIGEST" not in out and "sent 0 digests" in out, (out, err)
    with sqlite3.connect(tmp_path / "regwatch.db") as conn:
        statuses = conn.execute("SELECT status FROM outbox WHERE subscription_id = ?", (sub_id,)).fetchall()
    assert statuses == [("sent",), ("sent",)]


def test_schedule_and_settings_refuse_bad_input_plainly(tmp_path, monkeypatch, capsys):
    # In process (the same main() the console command runs), to keep ten invocations fast.
    for key, value in env_for(tmp_path).items():
        if key.startswith("REGWATCH_"):
            monkeypatch.setenv(key, value)
    (tmp_path / "subs.toml").write_text("")

    def run(*args: str) -> tuple[int, str, str]:
        # main() sets up logging for a process: give the test run its logging back afterwards.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        noisy = {n: logging.getLogger(n).level for n in ("apscheduler", "discord", "aiohttp.access")}
        try:
            code = main(list(args))
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
            logging.captureWarnings(False)
            for name, old in noisy.items():
                logging.getLogger(name).setLevel(old)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, err = run("subs", "add", "huawei", "--target", "console")
    assert code == 0, err
    sub_id = out.split()[1]
    code, _, err = run("subs", "schedule", sub_id, "daily", "25:00")
    assert code == 2 and "time must be HH:MM on a 24-hour clock (e.g. 09:00), not '25:00'" in err
    code, _, err = run("subs", "schedule", sub_id, "weekly", "09:00")
    assert code == 2 and "a weekly digest needs a day" in err
    code, _, err = run("subs", "schedule", "999", "hourly")
    assert code == 2 and "no subscription with id 999" in err
    code, _, err = run("settings", "timezone", "Europe/Atlantis")
    assert code == 2 and "unknown time zone 'Europe/Atlantis'" in err
    code, out, err = run("settings", "timezone", "Europe/Vilnius")
    assert code == 0 and "time zone: Europe/Vilnius" in out, err
    code, out, err = run("settings", "quiet-hours", "22:00", "07:00")
    assert code == 0 and "quiet hours of *: 22:00-07:00 (urgent actions still go out) (Europe/Vilnius)" in out
    code, out, err = run("settings", "rate-limit", "5", "5", "--overflow-cap", "200")
    assert code == 0 and "rate cap: 5 messages per 5 s" in out, err
    code, out, err = run("subs", "schedule", sub_id, "weekly", "08:30", "fri")
    assert code == 0 and "weekly digest on Fri at 08:30 (Europe/Vilnius)" in out, err
    code, out, err = run("subs", "mention", sub_id, "--role", "12345", "--only", "ban,high")
    assert code == 0 and "mentions role 12345 for ban, high" in out, err
    code, out, err = run("settings", "show")
    assert code == 0 and "time zone: Europe/Vilnius" in out and "quiet hours of *: 22:00-07:00" in out
