"""Benchmark the subscription matcher against a naive per-subscription regex baseline.

A seeded corpus of items (title + ~1.5 kB summary drawn from a Zipf vocabulary whose top ranks
are regulatory words, with vendor names and subscribed terms injected into some items) is matched
against 100, 10,000 and 100,000 generated subscriptions (single words, phrases, vendor:, AND/OR/NOT,
a few NEAR and prefixes). Each size runs in a fresh process, so its memory numbers are its own.

Every size runs once per literal scanning engine installed (Hyperscan, pyahocorasick), each with
its scanner built before timing (`Matcher.prepare`; the compile is reported as "scanner s").

Baseline in the same run: every subscription evaluated on its own with Python `re` (one compiled
pattern per literal, same folding and word-boundary rule), on a sample of items, extrapolated.
Each engine must find the same subscriptions as the baseline on its check sample (NEAR and regex
queries excluded, the baseline cannot express them), and the two engines the same matches, terms
included, on every item; the benchmark fails if they do not.

    python bench/bench_match.py            # 10,000 items x 100 / 10,000 / 100,000 subscriptions
    python bench/bench_match.py --quick    # 500 items x 100 / 1,000 subscriptions, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bot.domain.matcher import AHOCORASICK, HYPERSCAN, Matcher, available_engines
from bot.domain.models import MatchDoc
from bot.domain.query import (
    Action,
    And,
    InField,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Query,
    VendorTerm,
    Word,
    atom_literals,
    parse_query,
)
from bot.domain.text import fold, is_word_char, words_only
from bot.domain.vendors import VendorCatalog

SEED = 20240611
_REGULATORY_WORDS = (
    "the of and to in a for on that by with is as from federal commission security department "
    "order rule agency national equipment network telecommunications services public notice "
    "report communications information risk foreign government issued final covered list "
    "entity export administration bureau industry technology companies company software "
    "hardware vendor vendors supply chain critical infrastructure cybersecurity directive "
    "emergency binding operational guidance sanctions sanction treasury office control assets "
    "designation designated investigation investigations fine fined penalty penalties "
    "settlement enforcement action actions compliance regulation regulations regulatory "
    "determination prohibited prohibition ban banned banning restrictions restricted license "
    "licenses authorization revoked revocation application applications section act law "
    "congress senate house committee hearing testimony statement announced announces today "
    "week year new policy program products product devices device data privacy users customers "
    "market markets trade tariffs import imports china chinese russia russian united states "
    "american european union state states officials official minister ministry president "
    "secretary administration federal register comment comments proposed proposal review"
)
REGULATORY = tuple(_REGULATORY_WORDS.split())
ACTIONS = ("ban", "directive", "sanction", "entity_list", "covered_list", "guidance", "fine", "investigation")
SHORT_TERMS = ("EU", "5G", "AI", "UK", "FCC", "BIS", "DHS")


# ---------------------------------------------------------------- corpus


def _pseudo_words(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr"]
    onsets += ["st", "gr", "pl", "kr", "sh", "ch", "th", "fl", "dr", "sk"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "rt", "st", "x", "ck"]
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((2, 2, 3, 3, 3, 4))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables))
        if word not in taken and 4 <= len(word) <= 14:
            taken.add(word)
            words.append(word)
    return words


class World:
    """The seeded vocabulary, vendor pools and samplers shared by corpus and subscriptions."""

    def __init__(self, seed: int, vocabulary_size: int = 100_000, vendor_names: int = 40_000) -> None:
        self.rng = random.Random(seed)
        taken = set(REGULATORY)
        self.vocabulary = list(dict.fromkeys(REGULATORY)) + _pseudo_words(
            self.rng, vocabulary_size - len(set(REGULATORY)), taken
        )
        weights = [1.0 / (rank + 2.7) ** 1.05 for rank in range(len(self.vocabulary))]
        total = 0.0
        self.cumulative = []
        for weight in weights:
            total += weight
            self.cumulative.append(total)
        suffixes = ["Lab", "Inc", "Systems", "Technologies", "Networks", "Group", "Holdings", "Telecom"]
        bases = _pseudo_words(self.rng, vendor_names, taken)
        self.fake_vendors = [
            f"{base.capitalize()} {self.rng.choice(suffixes)}" if index % 3 else base.capitalize()
            for index, base in enumerate(bases)
        ]
        self.catalog = VendorCatalog.load_default()
        self.vendors = [vendor for vendor in self.catalog]

    def words(self, count: int) -> list[str]:
        """Draw `count` Zipf-distributed words."""
        return self.rng.choices(self.vocabulary, cum_weights=self.cumulative, k=count)

    def fake_vendor(self) -> str:
        """Draw a synthetic vendor name; low indexes are somewhat more popular."""
        return self.fake_vendors[int(len(self.fake_vendors) * self.rng.random() ** 1.5)]

    def catalog_vendor(self) -> Any:
        """Draw a catalog vendor, the first ones more often."""
        index = int(self.rng.expovariate(0.15)) % len(self.vendors)
        return self.vendors[index]


def _sentence(world: World, rng: random.Random) -> str:
    words = world.words(rng.randint(8, 24))
    out = []
    for index, drawn in enumerate(words):
        roll = rng.random()
        word = drawn
        if roll < 0.03:
            word += "'s"
        elif roll < 0.08:
            word += ","
        elif roll < 0.1:
            word = str(rng.randint(1, 2030))
        if index == 0 or rng.random() < 0.08:
            word = word.capitalize()
        out.append(word)
    return " ".join(out) + "."


def _injection(world: World, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        # Catalog vendors: mostly by their usual name, sometimes a legal or non-Latin alias.
        vendor = world.catalog_vendor()
        name = vendor.name if rng.random() < 0.7 else rng.choice(vendor.aliases)
        return name + ("'s" if rng.random() < 0.2 else "")
    if roll < 0.95:
        return world.fake_vendor()
    return rng.choice(SHORT_TERMS)


def make_corpus(world: World, count: int) -> list[MatchDoc]:
    """Generate `count` items; 30 % of them carry 1-3 injected vendor names or terms."""
    rng = world.rng
    docs = []
    for index in range(count):
        title = " ".join(w.capitalize() if rng.random() < 0.5 else w for w in world.words(rng.randint(6, 14)))
        sentences: list[str] = []
        size = 0
        target = rng.randint(1200, 1700)
        while size < target:
            sentence = _sentence(world, rng)
            sentences.append(sentence)
            size += len(sentence) + 1
        summary = " ".join(sentences)
        if rng.random() < 0.3:
            parts = summary.split(" ")
            for _ in range(rng.randint(1, 3)):
                term = _injection(world, rng)
                if rng.random() < 0.3:
                    title = f"{title} {term}"
                else:
                    parts.insert(rng.randrange(len(parts)), term)
            summary = " ".join(parts)
        action = rng.choice(ACTIONS) if rng.random() < 0.2 else None
        docs.append(MatchDoc(title=title, summary=summary, source=f"source {index % 50}", action=action))
    return docs


# ---------------------------------------------------------------- subscriptions


def _word(world: World, lowest_rank: int = 5000) -> str:
    # Log-uniform over ranks: some subscribed words are common, most are specific.
    rank = int(math.exp(world.rng.uniform(math.log(lowest_rank), math.log(len(world.vocabulary))))) - 1
    return world.vocabulary[rank]


def _vendor_ref(world: World) -> str:
    name = world.catalog_vendor().name
    return f'vendor:"{name}"' if " " in name else f"vendor:{name}"


def make_rare_subscriptions(world: World, count: int) -> list[str]:
    """Generate the term mix of performance.md section 2 (terms that seldom occur), as queries."""
    rng = world.rng
    queries = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.60:
            queries.append(f'"{world.fake_vendor()}"')
        elif roll < 0.90:
            queries.append(
                '"' + " ".join(rng.choice(world.vocabulary) for _ in range(rng.choice((2, 3)))) + '"'
            )
        elif roll < 0.95:
            queries.append(world.vocabulary[rng.randrange(len(world.vocabulary) // 5, len(world.vocabulary))])
        else:  # non-ASCII and legal names from the catalog
            queries.append(f'"{rng.choice(world.catalog_vendor().aliases)}"')
    return queries


def make_subscriptions(world: World, count: int, mix: str = "mixed") -> list[str]:
    """Generate `count` query texts: the "mixed" query shapes, or the "rare" term mix."""
    if mix == "rare":
        return make_rare_subscriptions(world, count)
    rng = world.rng
    queries = []
    for _ in range(count):
        # Shares: 12 % words, 40 % vendor-like names, 10 % catalog vendors, 10 % AND, 10 % OR,
        # 7 % NOT, 4 % NEAR, 4 % prefixes, 3 % short words.
        roll = rng.random()
        if roll < 0.12:
            query = _word(world)
        elif roll < 0.52:
            query = f'"{world.fake_vendor()}"'
        elif roll < 0.62:
            query = _vendor_ref(world) if rng.random() < 0.85 else f"title:{_vendor_ref(world)}"
        elif roll < 0.72:
            query = rng.choice(
                [
                    f"{_vendor_ref(world)} action:any",
                    f"{_word(world)} {_word(world)}",
                    f'"{world.fake_vendor()}" {rng.choice(REGULATORY[20:])}',
                    f"{_vendor_ref(world)} (ban OR sanction* OR fine)",
                    f'"{world.fake_vendor()}" action:{rng.choice(ACTIONS)}',
                ]
            )
        elif roll < 0.82:
            query = rng.choice(
                [
                    f"{_word(world)} OR {_word(world)} OR {_word(world)}",
                    f'"{world.fake_vendor()}" OR "{world.fake_vendor()}"',
                    f"{_vendor_ref(world)} OR {_vendor_ref(world)}",
                ]
            )
        elif roll < 0.89:
            query = rng.choice(
                [
                    f"{_word(world)} -{_word(world)}",
                    f"{_vendor_ref(world)} -title:{rng.choice(REGULATORY[20:])}",
                    f"({_word(world)} OR {_word(world)}) AND NOT {_word(world)}",
                ]
            )
        elif roll < 0.93:  # NEAR
            query = rng.choice(
                [
                    f"{_vendor_ref(world)} NEAR/5 {rng.choice(['ban', 'banned', 'sanctions', 'fine'])}",
                    f"{_word(world)} NEAR/3 {_word(world)}",
                ]
            )
        elif roll < 0.97:
            stem = _word(world, lowest_rank=10_000)
            query = f"{stem[: max(6, len(stem) - 2)]}*"
        else:
            query = f"{rng.choice(SHORT_TERMS)} {rng.choice(['ban', 'sanctions', 'security'])}"
        queries.append(query)
    return queries


# ---------------------------------------------------------------- naive baseline


class _LiteralPattern:
    """One literal's compiled `re` pattern, with the whole-word rule checked on each occurrence.

    (Boundary look-arounds with the full Unicode word class take ~8 ms each to compile, too slow
    for 50,000 literals; checking the few occurrences in Python gives the same answers.)
    """

    def __init__(self, literal: str, prefix: bool) -> None:
        self.pattern = re.compile(re.escape(literal))
        self.check_left = is_word_char(literal[0])
        self.check_right = not prefix and is_word_char(literal[-1])

    def search(self, text: str) -> bool:
        """Tell whether the literal occurs in `text` as a whole word."""
        for found in self.pattern.finditer(text):
            start, end = found.span()
            if self.check_left and start and is_word_char(text[start - 1]):
                continue
            if self.check_right and end < len(text) and is_word_char(text[end]):
                continue
            return True
        return False


class Naive:
    """Each subscription checked on its own with Python `re` patterns over the folded fields."""

    FIELDS: ClassVar[dict[str, tuple[int, ...]]] = {"title": (0,), "summary": (1,), "source": (2,)}

    def __init__(self, subscriptions: list[tuple[int, Query]]) -> None:
        self.subscriptions = [(sid, query.root) for sid, query in subscriptions if _naive_can(query.root)]
        self.patterns: dict[tuple[str, bool], _LiteralPattern] = {}
        for _, root in self.subscriptions:
            self._compile(root)

    def _compile(self, node: Node) -> None:
        if isinstance(node, Word | Phrase | Prefix | VendorTerm):
            for literal in atom_literals(node):
                key = (literal.text, literal.prefix)
                if key not in self.patterns:
                    self.patterns[key] = _LiteralPattern(literal.text, literal.prefix)
        elif isinstance(node, Not | InField):
            self._compile(node.child)
        elif isinstance(node, And | Or):
            for child in node.children:
                self._compile(child)

    def match(self, doc: MatchDoc) -> set[int]:
        """Return the ids of the subscriptions matching `doc`."""
        texts = (fold(doc.title), fold(doc.summary), fold(doc.source))
        return {sid for sid, root in self.subscriptions if self._eval(root, texts, (0, 1), doc)}

    def _eval(self, node: Node, texts: tuple[str, str, str], fields: tuple[int, ...], doc: MatchDoc) -> bool:
        if isinstance(node, Word | Phrase | Prefix | VendorTerm):
            patterns = [self.patterns[(lit.text, lit.prefix)] for lit in atom_literals(node)]
            return any(pattern.search(texts[field]) for pattern in patterns for field in fields)
        if isinstance(node, Action):
            return doc.action is not None and node.kind in ("any", doc.action)
        if isinstance(node, Not):
            return not self._eval(node.child, texts, fields, doc)
        if isinstance(node, InField):
            return self._eval(node.child, texts, self.FIELDS[node.field], doc)
        if isinstance(node, And):
            return all(self._eval(child, texts, fields, doc) for child in node.children)
        if isinstance(node, Or):
            return any(self._eval(child, texts, fields, doc) for child in node.children)
        raise TypeError(node)


def _naive_can(node: Node) -> bool:
    if isinstance(node, Word | Phrase | Prefix | VendorTerm | Action):
        return True
    if isinstance(node, Not | InField):
        return _naive_can(node.child)
    if isinstance(node, And | Or):
        return all(_naive_can(child) for child in node.children)
    return False  # NEAR, regex


# ---------------------------------------------------------------- one size, in its own process


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def run_size(
    subscription_count: int,
    mix: str,
    item_count: int,
    naive_seconds: float,
    naive_items: int,
    quick: bool,
    engine: str = AHOCORASICK,
) -> dict[str, Any]:
    """Build and time one matcher size on one engine; return the measurements."""
    world = World(SEED, 20_000, 5_000) if quick else World(SEED)
    check_items = 50 if quick else 300
    docs = make_corpus(world, item_count)
    texts = make_subscriptions(world, subscription_count, mix)
    gc.collect()
    rss_before = _rss_mb()

    started = time.process_time()
    queries = [(sid, parse_query(text, world.catalog)) for sid, text in enumerate(texts)]
    parse_seconds = time.process_time() - started
    started = time.process_time()  # CPU time: the machine may be shared
    matcher = Matcher(queries, engine)
    build_seconds = time.process_time() - started
    started = time.process_time()
    matcher.prepare()
    scanner_seconds = time.process_time() - started
    gc.collect()
    rss_built = _rss_mb()

    for doc in docs[:50]:  # warm caches (folding, short-word patterns)
        matcher.match_item(doc)
    started = time.process_time()
    matches = 0
    matched_items = 0
    for doc in docs:  # what the poller calls: the matches per query group, terms read later
        found = matcher.match_item(doc)
        matches += len(found)
        matched_items += bool(found)
    match_seconds = time.process_time() - started

    # The same with every subscription id listed in order (what the poller reads next).
    started = time.process_time()
    for doc in docs:
        matcher.match_item(doc).subscription_ids()
    listed_seconds = time.process_time() - started

    # The floor of this design on this machine: the engine's bare scan over the same words-only
    # text, with no boundary check, no evaluation and no reporting (Hyperscan: no callback).
    scanner: Any = matcher._scanner
    texts_only = [(words_only(fold(doc.title)), words_only(fold(doc.summary))) for doc in docs]
    started = time.process_time()
    if engine == HYPERSCAN:
        database = scanner._database
        for title, summary in texts_only:
            database.scan(title.encode())
            database.scan(summary.encode())
    else:
        automaton = scanner._automaton
        for title, summary in texts_only:
            for _ in automaton.iter(title):
                pass
            for _ in automaton.iter(summary):
                pass
    walk_seconds = max(time.process_time() - started, 1e-9)

    # Answers of the other engine (every match, terms included) on every item.
    other_engine = AHOCORASICK if engine == HYPERSCAN else HYPERSCAN
    compare = engine == HYPERSCAN  # once per size: Hyperscan against Aho-Corasick
    engine_differences: list[str] = []
    if compare:
        other = Matcher(queries, other_engine)
        for doc in docs:
            ours, theirs = matcher.match(doc), other.match(doc)
            if ours != theirs:
                engine_differences.append(
                    f"{engine} {ours[:3]} vs {other_engine} {theirs[:3]}: {doc.title[:60]!r}"
                )
        del other

    # Peak memory of the real work, before the baseline builds its own patterns.
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Speed of the baseline: every subscription it can express, on a time-capped sample.
    naive = Naive(queries)
    sample = docs[:: max(1, len(docs) // naive_items)][:naive_items]
    naive_elapsed = 0.0
    naive_done = 0
    for doc in sample if naive_seconds > 0 else []:
        started = time.process_time()
        naive.match(doc)
        naive_elapsed += time.process_time() - started
        naive_done += 1
        if naive_elapsed > naive_seconds:
            break

    # Correctness: the baseline over (at most) 5,000 random subscriptions, on more items.
    checked = random.Random(SEED).sample(queries, min(len(queries), 5_000))
    reference = Naive(checked)
    checked_ids = {sid for sid, _ in reference.subscriptions}
    mismatches: list[str] = []
    for doc in docs[:check_items]:
        expected = reference.match(doc)
        got = {m.subscription_id for m in matcher.match(doc)} & checked_ids
        for sid in sorted(got ^ expected)[:5]:
            side = "matcher only" if sid in got else "baseline only"
            mismatches.append(f"{side}: {texts[sid]!r} on item {doc.title[:60]!r}")

    stats = matcher.stats
    mismatches += engine_differences[:20]
    return {
        "engine": engine,
        "compared_engines": compare,
        "subscriptions": subscription_count,
        "mix": mix,
        "items": item_count,
        "distinct_queries": stats.distinct_queries,
        "literals": stats.literals,
        "edge_literals": stats.edge_literals,
        "parse_s": parse_seconds,
        "build_s": build_seconds,
        "scanner_s": scanner_seconds,
        "items_per_s": item_count / match_seconds,
        "us_per_item": match_seconds / item_count * 1e6,
        "listed_items_per_s": item_count / listed_seconds,
        "walk_items_per_s": item_count / walk_seconds,
        "matches_per_item": matches / item_count,
        "matched_items": matched_items / item_count,
        "naive_subscriptions": len(naive.subscriptions),
        "naive_items": naive_done,
        "naive_items_per_s": naive_done / max(naive_elapsed, 1e-9),
        "rss_index_mb": rss_built - rss_before,
        "rss_peak_mb": rss_peak,
        "checked": f"{min(check_items, len(docs))} x {len(checked_ids):,}",
        "mismatches": mismatches,
    }


# ---------------------------------------------------------------- driver


def _table(results: list[dict[str, Any]]) -> str:
    header = (
        "| subscriptions | mix | engine | distinct queries | literals | parse s | build s | scanner s "
        "| items/s | with ids listed | bare scan items/s | µs/item "
        "| matches/item | naive items/s (sample) | speed-up | index RSS MB | peak RSS MB "
        "| checked items x subs |"
    )
    lines = [header, "|---:|---|---|" + "---:|" * 14 + "---|"]
    for r in results:
        speedup = r["items_per_s"] / r["naive_items_per_s"]
        check = f"{r['checked']} ok" if not r["mismatches"] else f"{len(r['mismatches'])} DIFFER"
        if r["compared_engines"] and not r["mismatches"]:
            check += f"; = {AHOCORASICK} on {r['items']:,} items"
        lines.append(
            f"| {r['subscriptions']:,} | {r['mix']} | {r['engine']} | {r['distinct_queries']:,} "
            f"| {r['literals']:,} | {r['parse_s']:.2f} | {r['build_s']:.2f} | {r['scanner_s']:.2f} "
            f"| {r['items_per_s']:,.0f} | {r['listed_items_per_s']:,.0f} | {r['walk_items_per_s']:,.0f} "
            f"| {r['us_per_item']:.0f} "
            f"| {r['matches_per_item']:.2f} | {r['naive_items_per_s']:,.1f} ({r['naive_items']}) "
            f"| {speedup:,.0f}x | {r['rss_index_mb']:.0f} | {r['rss_peak_mb']:.0f} | {check} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run every size in a fresh process, print the table, fail if the baseline disagrees."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mix", default="mixed", help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=None, help="items in the corpus")
    parser.add_argument("--naive-seconds", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--naive-items", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--engine", default=None, help="one engine only (default: every one installed)")
    args = parser.parse_args()
    if args.worker is not None:
        result = run_size(
            args.worker, args.mix, args.items, args.naive_seconds, args.naive_items, args.quick, args.engine
        )
        print(json.dumps(result))
        return 0

    sizes = [(100, "mixed"), (1_000, "mixed"), (1_000, "rare")]
    if not args.quick:
        sizes = [(100, "mixed"), (10_000, "mixed"), (100_000, "mixed"), (100_000, "rare")]
    items = args.items or (500 if args.quick else 10_000)
    naive_seconds = 0.5 if args.quick else 20.0
    naive_items = 100 if args.quick else 300
    engines = [args.engine] if args.engine else list(available_engines())
    results = []
    for size, mix in sizes:
        naive: dict[str, Any] = {}
        for engine in engines:
            command = [sys.executable, __file__, "--worker", str(size), "--mix", mix, "--items", str(items)]
            command += ["--quick"] if args.quick else []
            # The baseline's speed does not depend on the engine: measured in the first run only.
            seconds = naive_seconds if not naive else 0
            command += [
                "--naive-seconds",
                str(seconds),
                "--naive-items",
                str(naive_items),
                "--engine",
                engine,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout)
            if naive:
                result.update(naive)
            else:
                naive = {key: result[key] for key in ("naive_items", "naive_items_per_s")}
            results.append(result)

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Matcher: {items:,} items (title + ~1.5 kB summary); machine: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.machine()}, load average at start {load}. "
        "Single run; items/s is the CPU time of one process (one core).\n"
    )
    print(_table(results))
    mixed = [r for r in results if r["mix"] == "mixed"][-1]
    best = engines[0]
    print(
        "\n- mix: `mixed` = 12 % words, 40 % vendor-like names, 10 % catalog vendors, 10 % AND, 10 % OR,"
        " 7 % NOT, 4 % NEAR, 4 % prefixes, 3 % short words; `rare` = the term mix of performance.md"
        " section 2 (60 % vendor-like names, 30 % random 2-3-word phrases, 5 % rare words, 5 % catalog"
        " aliases), whose terms seldom occur."
        "\n- parse: parse_query for every subscription; build: Matcher(...) over the parsed queries;"
        " scanner: the engine's literal scanner built (`prepare`; Hyperscan's compile). Without"
        " `prepare`, the default engine (auto) starts on Aho-Corasick and compiles Hyperscan once"
        " the text matched would have paid for it."
        "\n- items/s: `Matcher.match_item` (the poller's call: matching subscriptions per query group,"
        " terms put into words only when read); with ids listed: the same plus"
        " `subscription_ids()`, every matching subscription's id in order."
        "\n- bare scan: the engine alone over the same words-only text (no boundary check, no"
        " evaluation, no terms; Hyperscan without a callback)."
        "\n- matches/item: (item, subscription) pairs found, divided by the items."
        f" Items with a match at {mixed['subscriptions']:,} mixed: {mixed['matched_items']:.0%}."
        "\n- naive: each subscription on its own with Python `re` (one pattern per literal, same folding"
        f" and whole-word rule), all it can express (all but NEAR and regex: {mixed['naive_subscriptions']:,}"
        f" of {mixed['subscriptions']:,} mixed), on a time-capped sample of items, extrapolated."
        "\n- index RSS: RSS growth from parsing and building; peak RSS: the whole worker process"
        " (corpus included) before the baseline runs."
        "\n- checked: items x subscriptions on which matcher and baseline found the same matches;"
        " `= ahocorasick`: Hyperscan and Aho-Corasick found the same matches, terms included, on every item."
    )
    by_engine = {(r["subscriptions"], r["mix"], r["engine"]): r for r in results}
    for r in [r for r in results if r["engine"] == best][-2:]:
        walks = "; ".join(
            f"bare {other['engine']} scan {other['walk_items_per_s']:,.0f} items/s"
            + (f" (whole match on {other['engine']}: {other['items_per_s']:,.0f})" if other is not r else "")
            for other in (by_engine.get((r["subscriptions"], r["mix"], e)) for e in engines)
            if other is not None
        )
        goal = 30_000 if r["mix"] == "rare" else 10_000
        row = {
            "what": f"matcher, {r['subscriptions']:,} subscriptions, {r['mix']} mix"
            f" ({r['matches_per_item']:.0f} matches/item)",
            "now": f"{r['items_per_s']:,.0f} items/s ({r['engine']})",
            "anchor": f"{walks}; naive re {r['naive_items_per_s']:,.1f} items/s",
            "goal": f">= {goal:,} items/s" + (" (at 100,000)" if args.quick else ""),
            "met": r["items_per_s"] >= goal if not args.quick else None,
        }
        print("@row " + json.dumps(row))
    failed = [m for r in results for m in r["mismatches"]]
    if failed:
        print("\nFAIL: the matcher and the baseline (or the two engines) disagree:", file=sys.stderr)
        for line in failed[:20]:
            print("  " + line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
