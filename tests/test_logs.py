"""Log formats: JSON lines carry the context ids; secrets are masked in both formats."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, TextFormatter

TOKEN = "MTIzNDU2Nzg5.Gabcde.secret-part"


def record(message: str, *args: object, exc: Exception | None = None, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, None)
    if exc is not None:
        try:
            raise exc
        except Exception as raised:
            rec.exc_info = (type(raised), raised, raised.__traceback__)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_the_ids_given_with_extra():
    line = JsonFormatter().format(record("alert %d not delivered", 7, alert_id=7, subscription_id=3))
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["message"] == "alert 7 not delivered" and payload["level"] == "warning"
    assert payload["alert_id"] == 7 and payload["subscription_id"] == 3 and "source_id" not in payload


def test_secrets_are_masked_in_messages_urls_payloads_and_tracebacks():
    rec = record(
        "POST %s with %s; header Bot %s",
        "https://discord.com/api/v10/interactions/123/aW50ZXJhY3Rpb246MTIz/callback",
        {"id": "123", "token": "aW50ZXJhY3Rpb246MTIz"},
        TOKEN,
        exc=RuntimeError(f"request to /webhooks/42/hook-secret failed with {TOKEN}"),
    )
    for formatter in (TextFormatter([TOKEN]), JsonFormatter([TOKEN])):
        text = formatter.format(rec)
        assert TOKEN not in text and "aW50ZXJhY3Rpb246MTIz" not in text and "hook-secret" not in text
        assert "/interactions/123/***/callback" in text and "/webhooks/42/***" in text
