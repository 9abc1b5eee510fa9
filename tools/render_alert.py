"""Render a real regwatch alert message (embed + buttons) to a PNG for the docs.

    .venv/bin/pip install -e ".[docs]"     # Pillow: only this tool needs it, not regwatch itself
    .venv/bin/python tools/render_alert.py          # writes docs/img/alert-with-buttons.{png,json}

The alert is built the way the service builds it, from a real fixture: the FCC Covered List page
(tests/fixtures/pages/fcc_coveredlist_2024-09-03_trimmed.html, provenance in its SOURCES.md) read
by the `html` page-watch adapter with the catalog source's options; its AO Kaspersky Lab row is
classified with the page's context, matched by the subscription `vendor:Kaspersky`, and rendered
by bot.delivery.embed.build_message, the function the Discord sink posts. The JSON written beside
the PNG is that exact payload. The PNG draws it as Discord's dark theme shows it (an approximation
of Discord's layout and fonts: DejaVu Sans stands in for Discord's font).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Pillow is imported when drawing: tests check the payload without it
    from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.delivery.embed import build_message  # noqa: E402
from bot.domain.explain import classify_verdict  # noqa: E402
from bot.domain.matcher import Matcher  # noqa: E402
from bot.domain.models import MatchDoc  # noqa: E402
from bot.domain.query import parse_query  # noqa: E402
from bot.domain.semantics import source_context, source_field  # noqa: E402
from bot.domain.vendors import VendorCatalog  # noqa: E402
from bot.sources.adapters import parse_document  # noqa: E402
from bot.storage.outbox import PendingAlert  # noqa: E402

PAGE = ROOT / "tests" / "fixtures" / "pages" / "fcc_coveredlist_2024-09-03_trimmed.html"
URL = "https://www.fcc.gov/supplychain/coveredlist"
OPTIONS = {"selector": "table tbody tr", "issuer": "FCC", "jurisdiction": "US", "action": "covered_list"}
SOURCE = "FCC Covered List"
QUERY = "vendor:Kaspersky"
# The moment the picture shows: the day the FCC added the row, a few minutes after the poll.
POSTED = datetime(2022, 3, 25, 21, 4, tzinfo=UTC)
OUT = ROOT / "docs" / "img" / "alert-with-buttons"

FONTS = Path("/usr/share/fonts/truetype/dejavu")
BG, EMBED_BG, TEXT, MUTED, WHITE, LINK = "#313338", "#2B2D31", "#DBDEE1", "#949BA4", "#F2F3F5", "#00A8FC"
BUTTON_COLOURS = {1: "#5865F2", 2: "#4E5058", 3: "#248046", 4: "#DA373C", 5: "#4E5058"}
WIDTH, LEFT, EMBED_W = 860, 76, 700


def real_alert() -> dict[str, Any]:
    """Return the message payload regwatch posts for the Kaspersky row of the real Covered List page."""
    vendors = VendorCatalog.load_default()
    feed = parse_document("html", PAGE.read_bytes(), content_type="text/html", url=URL, options=OPTIONS)
    entry = next(e for e in feed.entries if "Kaspersky" in e.text)
    context = source_context(OPTIONS, page_title=entry.page_title, heading=entry.heading)
    verdict = classify_verdict(entry.title, entry.text, context)
    doc = MatchDoc(
        title=entry.title,
        summary=entry.text,
        source=source_field(SOURCE, entry.page_title, entry.heading),
        action=verdict.action,
    )
    [match] = Matcher([(3, parse_query(QUERY, vendors))]).match(doc)
    alert = PendingAlert(
        id=42,
        target="discord:1",
        attempts=0,
        subscription_id=3,
        subscription_label="#3",
        query=QUERY,
        mention_role_id=None,
        item_id=1,
        title=entry.title,
        text=entry.text,
        link=entry.link,
        published=entry.published or POSTED - timedelta(minutes=2),
        action=verdict.action,
        source_name=SOURCE,
        source_url=URL,
        terms=tuple(match.terms),
        created_at=POSTED,
        explanation={
            "classifier": {
                "action": verdict.action,
                "issuer": verdict.issuer,
                "jurisdiction": verdict.jurisdiction,
                "targets": list(verdict.targets),
            }
        },
    )
    return build_message(alert)


# --- drawing -------------------------------------------------------------------------------------


def font(bold: bool = False, size: int = 15) -> ImageFont.FreeTypeFont:
    """Return DejaVu Sans (bold) at a size."""
    from PIL import ImageFont

    return ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


def shown(markdown: str) -> list[tuple[str, bool]]:
    """Return the runs Discord shows for escaped markdown: (text, bold); timestamps as dates."""

    def stamp(m: re.Match[str]) -> str:
        when = datetime.fromtimestamp(int(m.group(1)), UTC)
        if m.group(2) == "R":
            minutes = int((POSTED - when).total_seconds() // 60)
            return f"{minutes} minutes ago"
        return f"{when:%-d %B %Y %H:%M}"

    text = re.sub(r"<t:(\d+):([fR])>", stamp, markdown).replace("\u200b", "")
    runs = []
    for n, part in enumerate(text.split("**")):
        plain = re.sub(r"\\(.)", r"\1", part)
        if plain:
            runs.append((plain, n % 2 == 1))
    return runs


def wrap(runs: list[tuple[str, bool]], width: int, size: int) -> list[list[tuple[str, bool]]]:
    """Break runs into lines of at most `width` pixels, at spaces."""
    lines: list[list[tuple[str, bool]]] = [[]]
    x = 0.0
    for text, bold in runs:
        f = font(bold, size)
        for piece in re.findall(r"\S+\s*|\s+", text):
            word = piece
            if x + f.getlength(word.rstrip()) > width and lines[-1]:
                lines.append([])
                x = 0.0
                word = word.lstrip()
            lines[-1].append((word, bold))
            x += f.getlength(word)
    return lines


def draw_runs(
    draw: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    markdown: str,
    width: int,
    *,
    size: int = 15,
    fill: str = TEXT,
    bold: bool = False,
) -> int:
    """Draw wrapped markdown at xy (all of it bold when asked); return the y below it."""
    x0, y = xy
    runs = [(text, bold or strong) for text, strong in shown(markdown)]
    for line in wrap(runs, width, size):
        x = float(x0)
        for text, strong in line:
            f = font(strong, size)
            # Bold words of the description show brighter, as in Discord.
            draw.text((x, y), text, font=f, fill=WHITE if strong and fill == TEXT else fill)
            x += f.getlength(text)
        y += int(size * 1.4)
    return y


def render(message: dict[str, Any], height: int = 1000) -> Image.Image:
    """Draw the message as a Discord channel shows it, in the dark theme."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, height), BG)
    draw = ImageDraw.Draw(image)
    embed = message["embeds"][0]
    # Author line: avatar, name, APP tag, time.
    draw.ellipse((16, 14, 56, 54), fill="#5865F2")
    draw.text((36, 34), "R", font=font(True, 20), fill=WHITE, anchor="mm")
    draw.text((LEFT, 14), "RegWatch", font=font(True, 16), fill=WHITE)
    tag_x = LEFT + int(font(True, 16).getlength("RegWatch")) + 8
    draw.rounded_rectangle((tag_x, 16, tag_x + 34, 32), 3, fill="#5865F2")
    draw.text((tag_x + 17, 24), "APP", font=font(True, 10), fill=WHITE, anchor="mm")
    draw.text((tag_x + 44, 17), f"{POSTED:%d/%m/%Y %H:%M}", font=font(size=12), fill=MUTED)
    # The embed: a coloured bar, title (a link), description, fields, footer. The text is laid out
    # once on a scratch image to know the box's height, then drawn over the box.
    top, x, inner = 44, LEFT + 16, EMBED_W - 32
    y = _embed_text(ImageDraw.Draw(Image.new("RGB", (WIDTH, height))), embed, top, x, inner)
    draw.rounded_rectangle((LEFT, top, LEFT + EMBED_W, y), 4, fill=EMBED_BG)
    draw.rectangle((LEFT, top, LEFT + 3, y), fill=f"#{embed['color']:06X}")
    _embed_text(draw, embed, top, x, inner)
    y += 8
    bx = LEFT
    for button in message["components"][0]["components"]:
        label = button["label"] + (" ↗" if button["style"] == 5 else "")
        w = int(font(size=14).getlength(label)) + 32
        draw.rounded_rectangle((bx, y, bx + w, y + 34), 4, fill=BUTTON_COLOURS[button["style"]])
        draw.text((bx + w // 2, y + 17), label, font=font(size=14), fill=WHITE, anchor="mm")
        bx += w + 8
    return image.crop((0, 0, WIDTH, y + 34 + 16))


def _field_row(draw: ImageDraw.ImageDraw, x: int, y: int, inner: int, fields: list[dict[str, Any]]) -> int:
    column = inner // 3 if len(fields) > 1 or fields[0].get("inline") else inner
    bottom = y
    for n, field in enumerate(fields):
        fx = x + n * column
        fy = draw_runs(draw, (fx, y), field["name"], column - 12, size=13, fill=WHITE, bold=True)
        bottom = max(bottom, draw_runs(draw, (fx, fy), field["value"], column - 12, size=13))
    return bottom + 8


def _embed_text(draw: ImageDraw.ImageDraw, embed: dict[str, Any], top: int, x: int, inner: int) -> int:
    """Draw the embed's text from `top`; return the bottom of the embed box."""
    y = draw_runs(draw, (x, top + 14), embed["title"], inner, size=16, fill=LINK, bold=True) + 6
    y = draw_runs(draw, (x, y), embed["description"], inner, size=14) + 10
    row: list[dict[str, Any]] = []
    for field in embed["fields"]:
        if field.get("inline") and len(row) < 3:
            row.append(field)
            continue
        if row:
            y = _field_row(draw, x, y, inner, row)
            row = []
        if field.get("inline"):
            row = [field]
        else:
            y = _field_row(draw, x, y, inner, [field])
    if row:
        y = _field_row(draw, x, y, inner, row)
    footer = embed["footer"]["text"] + f" • {POSTED - timedelta(minutes=2):%d/%m/%Y %H:%M}"
    return draw_runs(draw, (x, y + 2), footer, inner, size=12, fill=MUTED) + 10


def main() -> None:
    """Write the payload and its picture under docs/img/."""
    message = real_alert()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps(message, indent=2, ensure_ascii=False) + "\n")
    render(message).save(OUT.with_suffix(".png"), optimize=True)
    for suffix in (".png", ".json"):
        print(f"wrote {OUT.with_suffix(suffix).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
