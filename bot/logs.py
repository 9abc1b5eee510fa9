"""Logging set-up: readable text for people, one JSON object per line for machines.

Secrets never reach the output: the Discord token is replaced wherever it appears, and so are
the tokens in interaction and webhook URLs and in payloads (discord.py logs both at DEBUG).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.domain.safetext import json_line, terminal, terminal_block

# Context attributes that log calls may attach with extra={...}; they appear in JSON logs.
_CONTEXT = ("source_id", "subscription_id", "alert_id", "guild_id")
# /webhooks/{id}/{token} and /interactions/{id}/{token}: the token part is a credential.
_URL_TOKEN = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?\"']+")
# 'token': '…' in payloads discord.py dumps at DEBUG (an interaction's token answers for 15 minutes).
_FIELD_TOKEN = re.compile(r"""(["']\w*token["']\s*:\s*["'])[^"']+""", re.IGNORECASE)
MASK = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return the text with the given secrets and any webhook or interaction token masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _URL_TOKEN.sub(rf"\g<1>{MASK}", text)
    return _FIELD_TOKEN.sub(rf"\g<1>{MASK}", text)


class TextFormatter(logging.Formatter):
    """Format a record as one readable line, secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as text: the message one clean line, a traceback its own lines."""
        # Messages quote sources (names, errors): a newline or an escape sequence in them must not
        # forge a log line or reach the terminal.
        line = logging.makeLogRecord(record.__dict__)
        line.msg, line.args = terminal(record.getMessage()), None
        return terminal_block(redact(super().format(line), self._secrets))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line, secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON."""
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage(), self._secrets),
        }
        for key in _CONTEXT:
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["error"] = redact(self.formatException(record.exc_info), self._secrets)
        return json_line(payload)


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """Send logs to standard error (standard output is for alerts and command output)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python's warnings go through the same handler, so JSON output stays one object per line.
    logging.captureWarnings(True)
    # Third-party chatter stays at WARNING unless we debug.
    for noisy in ("apscheduler", "discord", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
