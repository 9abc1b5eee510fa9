"""Replay real regulatory events through `regwatch run --once`, as a user would run it.

A scenario is a directory of tests/scenarios holding `scenario.toml` (what happened, who published
it, which vendors it concerns, where the wording comes from) and the source's payload twice:
`before` (the document without the event) and `after` (the document as it carried the event).

The replay of one scenario, rules in order:

1. The loopback feed server (tests/feedserver.py) serves `before` at the source's path; the
   scenario's extra `files` (e.g. a Federal Register document body) are served too. Absolute URLs
   of the `rewrite_origins` in every served payload point at the loopback server instead, so a
   feature that follows them (body fetch, full text) never leaves 127.0.0.1.
2. `regwatch run --once` primes a fresh SQLite database: a first poll records and alerts nothing.
3. The server then serves `after`. For each probe the primed database is copied and
   `regwatch run --once` runs again with the probe's subscriptions file: the starter subscriptions
   (bot/data/subscriptions.toml, as they are now) and one `vendor:V action:any` per expected vendor.
   Probes run apart because an item alerts once per target: two subscriptions of one run could
   hide each other.
4. A probe hits when its run prints an alert. Its console output, the new items' recorded action
   and, for misses, a short reason (vendor not named, no action recognised) are kept.

A positive scenario passes when the starter subscriptions and every vendor probe alert; a
negative one (`negative = true`) passes when no vendor probe alerts.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import sys
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.feedserver import FeedServer, guess_content_type

SCENARIOS_DIR = Path(__file__).resolve().parent
ROOT = SCENARIOS_DIR.parent.parent
REPO = SCENARIOS_DIR.parent.parent
STARTER_SUBSCRIPTIONS = REPO / "bot" / "data" / "subscriptions.toml"
VENDORS_FILE = REPO / "bot" / "data" / "vendors.toml"

# Real events go back to 2017; the item-age cut-off must not hide them (its maximum is ten years).
MAX_ITEM_AGE_HOURS = 24 * 3650
RUN_TIMEOUT_SECONDS = 180
PROBES_AT_ONCE = 3
STARTER = "starter"

_ALERT = re.compile(r"^(?:ALERT \[(?P<label>[^\]]*)\]|ALSO REPORTED BY .*\[(?P<also>[^\]]*)\] ·)")
_ACTION = re.compile(r"· action: (?P<action>\S+)\s*$")
_POLLED_OK = re.compile(r"polled (\d+) sources \(0 failed\)")


class HarnessError(RuntimeError):
    """The replay itself went wrong (bad scenario, source failed, command crashed): not a miss."""


@dataclass(frozen=True)
class Scenario:
    """One real event as its official source published it."""

    slug: str
    directory: Path
    event: str
    date: str
    jurisdiction: str
    issuer: str
    vendors: tuple[str, ...]
    action: str | None
    negative: bool
    provenance: tuple[str, ...]
    trimmed: str
    derived: str
    source: dict[str, Any]
    files: dict[str, str]
    rewrite_origins: tuple[str, ...]

    @property
    def kind(self) -> str:
        """Return the source kind (DESIGN 3.6): feed, federal_register, cisa_kev, html."""
        return str(self.source["kind"])


@dataclass
class Alert:
    """One alert block of the console output."""

    label: str
    title: str
    action: str | None


@dataclass
class NewItem:
    """An item the second poll stored, as the probe's database holds it."""

    title: str
    text: str
    link: str | None
    action: str | None


@dataclass
class Probe:
    """One subscriptions file run against the event."""

    name: str
    alerts: list[Alert]
    output: str
    why_not: str = ""

    @property
    def hit(self) -> bool:
        """Return whether the run printed an alert."""
        return bool(self.alerts)


@dataclass
class Replay:
    """What regwatch did with one scenario."""

    scenario: Scenario
    new_items: list[NewItem]
    starter: Probe
    vendor_action: dict[str, Probe] = field(default_factory=dict)

    @property
    def vendor_hits(self) -> dict[str, bool]:
        """Return, per expected vendor, whether `vendor:V action:any` alerted."""
        return {v: p.hit for v, p in self.vendor_action.items()}

    @property
    def passed(self) -> bool:
        """Return whether regwatch behaved as the scenario is labelled."""
        if self.scenario.negative:
            return not any(self.vendor_hits.values())
        return self.starter.hit and all(self.vendor_hits.values())

    def failures(self) -> list[str]:
        """Return what went against the label, one line each (empty when it passed)."""
        lines: list[str] = []
        if self.scenario.negative:
            for vendor, probe in self.vendor_action.items():
                if probe.hit:
                    lines.append(f"vendor:{vendor} action:any alerted a negative: {probe.why_not}")
            return lines
        if not self.starter.hit:
            lines.append(f"starter subscriptions missed: {self.starter.why_not}")
        for vendor, probe in self.vendor_action.items():
            if not probe.hit:
                lines.append(f"vendor:{vendor} action:any missed: {probe.why_not}")
        return lines


def load_scenario(directory: Path) -> Scenario:
    """Read a scenario directory; raise HarnessError when its scenario.toml is incomplete."""
    path = directory / "scenario.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HarnessError(f"{path}: {exc}") from exc
    missing = [
        k
        for k in ("event", "date", "jurisdiction", "issuer", "vendors", "provenance", "source")
        if k not in raw
    ]
    source = raw.get("source", {})
    missing += [f"source.{k}" for k in ("name", "kind", "path", "before", "after") if k not in source]
    negative = bool(raw.get("negative", False))
    if not negative and "action" not in raw:
        missing.append("action (or negative = true)")
    if missing:
        raise HarnessError(f"{path}: missing {', '.join(missing)}")
    for name in (source["before"], source["after"], *raw.get("files", {}).values()):
        if not (directory / name).is_file():
            raise HarnessError(f"{path}: file {name} is missing")
    return Scenario(
        slug=directory.name,
        directory=directory,
        event=str(raw["event"]),
        date=str(raw["date"]),
        jurisdiction=str(raw["jurisdiction"]),
        issuer=str(raw["issuer"]),
        vendors=tuple(raw["vendors"]),
        action=raw.get("action"),
        negative=negative,
        provenance=tuple(raw["provenance"]),
        trimmed=str(raw.get("trimmed", "")),
        derived=str(raw.get("derived", "")),
        source=dict(source),
        files={str(k): str(v) for k, v in raw.get("files", {}).items()},
        rewrite_origins=tuple(raw.get("rewrite_origins", ())),
    )


def load_scenarios(root: Path = SCENARIOS_DIR) -> list[Scenario]:
    """Return every scenario under `root`, sorted by directory name."""
    return [load_scenario(d) for d in sorted(root.iterdir()) if (d / "scenario.toml").is_file()]


# -- serving -------------------------------------------------------------------------------------


def _payload(scenario: Scenario, name: str, base_url: str) -> bytes:
    data = (scenario.directory / name).read_bytes()
    for origin in scenario.rewrite_origins:
        data = data.replace(origin.encode(), base_url.encode())
    return data


def _publish(server: FeedServer, scenario: Scenario, which: str) -> None:
    name = str(scenario.source[which])
    content_type = scenario.source.get("content_type") or guess_content_type(name)
    server.set(
        str(scenario.source["path"]),
        _payload(scenario, name, server.base_url),
        content_type=content_type,
    )
    for path, file_name in scenario.files.items():
        server.set(
            path, _payload(scenario, file_name, server.base_url), content_type=guess_content_type(file_name)
        )


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


# What a catalog source declares about its items; a scenario naming its catalog source
# (`catalog = "..."` under [source]) is replayed with them, as the catalog would poll it. Options
# that fetch other hosts (full_text) are left out: the replay never leaves 127.0.0.1.
SEMANTIC_OPTIONS = ("issuer", "jurisdiction", "action", "body_agencies")


def catalog_semantics(name: object) -> dict[str, Any]:
    """Return the semantic options of the built-in catalog's source of that name ({} for none)."""
    if not name:
        return {}
    catalog = tomllib.loads((ROOT / "bot" / "data" / "sources.toml").read_text(encoding="utf-8"))
    for source in catalog["source"]:
        if source["name"] == name:
            options = source.get("options") or {}
            return {k: options[k] for k in SEMANTIC_OPTIONS if k in options}
    raise HarnessError(f"no catalog source named {name!r}")


def sources_toml(scenario: Scenario, base_url: str) -> str:
    """Return the sources file of the replay: the scenario's one source, on the loopback server."""
    src = scenario.source
    url = base_url + str(src["path"]) + (("?" + str(src["query"])) if src.get("query") else "")
    text = (
        "[[source]]\n"
        f"name = {_toml_string(str(src['name']))}\n"
        f"url = {_toml_string(url)}\n"
        f"kind = {_toml_string(str(src['kind']))}\n"
    )
    options = {**catalog_semantics(src.get("catalog")), **(src.get("options") or {})}
    if options:
        text += "[source.options]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in options.items())
    return text


def vendor_subscription(vendor: str) -> str:
    """Return a subscriptions file with the one query `vendor:V action:any`."""
    query = f'vendor:"{vendor}" action:any' if " " in vendor else f"vendor:{vendor} action:any"
    name = "va-" + re.sub(r"[^A-Za-z0-9]+", "-", vendor).strip("-").lower()
    return f"[[subscription]]\nname = {_toml_string(name)}\nquery = {_toml_string(query)}\n"


# -- running -------------------------------------------------------------------------------------


def _env(workdir: Path, sources: Path, subscriptions: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGWATCH_")}
    env.update(
        REGWATCH_DATABASE_PATH=str(workdir / "regwatch.db"),
        REGWATCH_SOURCES_FILE=str(sources),
        REGWATCH_SUBSCRIPTIONS_FILE=str(subscriptions),
        REGWATCH_ALLOW_PRIVATE_NETWORKS="true",
        REGWATCH_MAX_ITEM_AGE_HOURS=str(MAX_ITEM_AGE_HOURS),
        REGWATCH_LOG_LEVEL="WARNING",
    )
    return env


async def _run_once(workdir: Path, sources: Path, subscriptions: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--once",
        cwd=REPO, env=_env(workdir, sources, subscriptions),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=RUN_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise HarnessError(f"regwatch run --once did not finish in {RUN_TIMEOUT_SECONDS} s") from exc
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    if proc.returncode != 0 or not _POLLED_OK.search(stdout):
        raise HarnessError(
            f"regwatch run --once exited {proc.returncode} or its source failed:\n{stdout}\n{stderr}"
        )
    return stdout


def parse_alerts(output: str) -> list[Alert]:
    """Return the alerts printed by the console sink (ALERT and ALSO REPORTED BY blocks)."""
    alerts: list[Alert] = []
    lines = output.splitlines()
    for n, line in enumerate(lines):
        found = _ALERT.match(line)
        if not found:
            continue
        title = lines[n + 1].strip() if n + 1 < len(lines) else ""
        action = None
        for follow in lines[n + 1 : n + 5]:
            if follow and not follow.startswith(" "):
                break
            if (a := _ACTION.search(follow)) is not None:
                action = a.group("action")
        alerts.append(
            Alert(label=found.group("label") or found.group("also") or "", title=title, action=action)
        )
    return alerts


def _new_items(database: Path) -> list[NewItem]:
    with sqlite3.connect(database) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
        where = "WHERE first_poll = 0" if "first_poll" in columns else ""
        rows = conn.execute(f"SELECT title, text, link, action FROM items {where} ORDER BY id").fetchall()
    return [NewItem(title=r[0] or "", text=r[1] or "", link=r[2], action=r[3]) for r in rows]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def vendor_names() -> dict[str, list[str]]:
    """Return each catalog vendor's name and aliases (bot/data/vendors.toml), folded for search."""
    catalog = tomllib.loads(VENDORS_FILE.read_text(encoding="utf-8"))
    return {
        str(v["name"]): [_fold(str(a)) for a in (v["name"], *v.get("aliases", ()))]
        for v in catalog.get("vendor", [])
    }


def _named(items: Sequence[NewItem], vendor: str, catalog: dict[str, list[str]]) -> bool:
    names = catalog.get(vendor, [_fold(vendor)])
    text = _fold(" ".join(f"{it.title} {it.text}" for it in items))
    return any(re.search(r"(?<!\w)" + re.escape(n) + r"(?!\w)", text) for n in names)


def _actions(items: Sequence[NewItem]) -> str:
    found = sorted({it.action for it in items if it.action})
    return ", ".join(found) if found else "none"


def why_not(probe: Probe, items: Sequence[NewItem], vendor: str | None, catalog: dict[str, list[str]]) -> str:
    """Return a short reason for a probe's result: why it missed, or what a false alarm was."""
    if not items:
        return "the second poll stored no new item"
    if probe.hit:
        actions = sorted({a.action or "none" for a in probe.alerts})
        return "alerted as action " + ", ".join(actions)
    if vendor is None:
        return f"no starter subscription matched (recognised action: {_actions(items)})"
    reasons = []
    if vendor not in catalog:
        reasons.append(f"{vendor} is not in the vendor catalog")
    elif not _named(items, vendor, catalog):
        reasons.append(f"{vendor} not named in the stored text")
    if not any(it.action for it in items):
        reasons.append("no action recognised")
    if not reasons:
        reasons.append(f"action {_actions(items)} recognised and {vendor} named, yet no alert")
    return "; ".join(reasons)


def _prepare(workdir: Path) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    empty = workdir / "no-subscriptions.toml"
    empty.write_text("")
    primed = workdir / "primed"
    primed.mkdir()
    return empty, primed


def _probe_dir(workdir: Path, primed: Path, n: int, subs_text: str) -> tuple[Path, Path]:
    """Copy the primed database into a probe's directory and write its subscriptions file."""
    probe_dir = workdir / f"probe{n}"
    probe_dir.mkdir()
    for f in primed.iterdir():
        if f.name.startswith("regwatch.db"):
            shutil.copy2(f, probe_dir / f.name)
    subs = probe_dir / "subscriptions.toml"
    subs.write_text(subs_text)
    return probe_dir, subs


async def replay(scenario: Scenario, workdir: Path) -> Replay:
    """Replay one scenario in `workdir` (a fresh directory) and return what regwatch did."""
    empty, primed = _prepare(workdir)
    async with FeedServer() as server:
        _publish(server, scenario, "before")
        sources = workdir / "sources.toml"
        sources.write_text(sources_toml(scenario, server.base_url))
        first = await _run_once(primed, sources, empty)
        if "ALERT" in first:
            raise HarnessError(f"the first poll alerted:\n{first}")
        _publish(server, scenario, "after")

        probes: list[tuple[str, str | None, str]] = [(STARTER, None, STARTER_SUBSCRIPTIONS.read_text())]
        probes += [(f"vendor:{v} action:any", v, vendor_subscription(v)) for v in scenario.vendors]
        limit = asyncio.Semaphore(PROBES_AT_ONCE)

        async def run_probe(n: int, name: str, subs_text: str) -> Probe:
            async with limit:
                probe_dir, subs = _probe_dir(workdir, primed, n, subs_text)
                output = await _run_once(probe_dir, sources, subs)
                return Probe(name=name, alerts=parse_alerts(output), output=output)

        results = await asyncio.gather(
            *(run_probe(n, name, text) for n, (name, _, text) in enumerate(probes))
        )
    items = _new_items(workdir / "probe0" / "regwatch.db")
    catalog = vendor_names()
    for (_, vendor, _), probe in zip(probes, results, strict=True):
        probe.why_not = why_not(probe, items, vendor, catalog)
    return Replay(
        scenario=scenario,
        new_items=items,
        starter=results[0],
        vendor_action={v: p for (_, v, _), p in zip(probes[1:], results[1:], strict=True) if v is not None},
    )
