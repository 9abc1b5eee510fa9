"""Settings from the environment (and a `.env` file), validated once at start-up."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.errors import ConfigError

ENV_PREFIX = "REGWATCH_"

# REGWATCH_ variables that are not settings but are read elsewhere (docs/configuration.md).
OTHER_VARIABLES = {
    "REGWATCH_FAILPOINTS": "crash points for the crash-recovery tests",
    "REGWATCH_IN_CONTAINER": "set by the Docker image: the database must be on a volume",
}


class Settings(BaseSettings):
    """Every setting regwatch reads; see settings.example.env for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    discord_dev_guild_id: int | None = Field(default=None, gt=0)

    # Gateway sharding (docs/scaling.md): the total number of shards, and this process's shards as
    # `0-3` or `0,2,5` (unset: every shard, when a count is set; neither set: one unsharded session).
    discord_shard_count: int | None = Field(default=None, ge=1, le=100_000)
    discord_shard_ids: str | None = None

    database_path: Path = Path("regwatch.db")
    # Unset: SQLite at database_path. postgresql://...: the shared PostgreSQL backend (may hold a password).
    database_url: SecretStr | None = None
    sources_file: Path | None = None
    subscriptions_file: Path | None = None

    poll_interval_seconds: int = Field(default=900, ge=5, le=7 * 24 * 3600)
    poll_concurrency: int = Field(default=8, ge=1, le=256)
    max_backoff_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)
    http_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    # Requests in flight to one host at once, across all sources (polite to shared hosts).
    http_per_host: int = Field(default=2, ge=1, le=64)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    # Worker processes for parsing and article extraction (0: one per spare core, at least 1).
    parse_workers: int = Field(default=0, ge=0, le=64)
    parse_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    allow_private_networks: bool = False
    contact: str = Field(default="", max_length=200)
    max_item_age_hours: int = Field(default=168, ge=1, le=24 * 3650)
    story_window_hours: int = Field(default=48, ge=0, le=24 * 30)
    max_subscriptions_per_guild: int = Field(default=50, ge=1, le=10_000)
    max_sources_per_guild: int = Field(default=10, ge=0, le=1_000)

    # Several workers on one database (docs/scaling.md): how long a channel's or a chore's lease lasts
    # unless renewed, and how long a claimed source stays claimed while a worker polls it.
    lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    source_claim_seconds: int = Field(default=600, ge=5, le=24 * 3600)

    health_port: int = Field(default=0, ge=0, le=65535)
    health_host: str = "127.0.0.1"
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=600)
    # At least a year: an identity forgotten too early lets an old item alert a second time.
    retention_days: int = Field(default=400, ge=365, le=36500)
    source_failing_notice_hours: int = Field(default=24, ge=1, le=24 * 365)
    source_silent_days: int = Field(default=30, ge=0, le=3650)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # auto: the starter subscriptions exist only in pure console mode (no token, none of your own).
    starter_subscriptions: Literal["auto", "on", "off"] = "auto"

    @field_validator("starter_subscriptions", mode="before")
    @classmethod
    def _lower_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("discord_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        # An empty REGWATCH_DISCORD_TOKEN= line in an env file means console mode.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _shard_ids_form(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value
        ids = parse_shard_ids(value)  # raises ValueError with the reason
        count = info.data.get("discord_shard_count")
        if count is None:
            raise ValueError("needs REGWATCH_DISCORD_SHARD_COUNT (the total number of shards)")
        if ids[-1] >= count:
            raise ValueError(f"shard {ids[-1]} is not below REGWATCH_DISCORD_SHARD_COUNT ({count})")
        return value.strip()

    @property
    def shard_ids(self) -> list[int] | None:
        """Return this process's shard ids (None: every shard of the count, or no sharding)."""
        return parse_shard_ids(self.discord_shard_ids) if self.discord_shard_ids else None

    @field_validator("sources_file", "subscriptions_file", "discord_dev_guild_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (unset: SQLite at REGWATCH_DATABASE_PATH)")
        return value.strip()

    @property
    def database_location(self) -> Path | str:
        """Return what bot.storage.db.connect opens: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else self.database_path

    @field_validator("discord_api_base", "discord_gateway_url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value.rstrip("/") if value.startswith("http") else value

    @property
    def user_agent(self) -> str:
        """Return the User-Agent sent to sources: project, version and the operator's contact."""
        from bot import __version__

        return f"regwatch/{__version__}" + (f" ({self.contact})" if self.contact else "")


def parse_shard_ids(text: str) -> list[int]:
    """Parse shard ids written as `0-3`, `0,2,5` or both (`0-3,8`); raise ValueError on anything else."""
    ids: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
            raise ValueError(f"shard ids are written 0-3 or 0,2,5 (got {text!r})")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"shard range {part.strip()} runs backwards")
        ids.update(range(first, last + 1))
    return sorted(ids)


def known_variables() -> set[str]:
    """Return every REGWATCH_ variable regwatch reads: the settings and the few others."""
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | set(OTHER_VARIABLES)


def _unknown(name: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(name, sorted(known_variables()), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else "; docs/configuration.md lists the settings"
    return ConfigError(f"{where}unknown variable {name}{hint}")


def check_variables(environ: Mapping[str, str], env_file: Path | None = Path(".env")) -> None:
    """Raise ConfigError for a REGWATCH_ variable regwatch does not know, in the environment or .env.

    A misspelt setting would otherwise be ignored in silence (`DEV_GUILD_ID` without its
    `DISCORD_` part, say), and the service would run with the default.
    """
    known = known_variables()
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise _unknown(name, "")
    if env_file is None or not env_file.is_file():
        return
    try:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return  # pydantic-settings reports an unreadable .env itself
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("export "):
            text = text[len("export ") :].lstrip()
        name = text.split("=", 1)[0].strip()
        if "=" in text and name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise _unknown(name, f"{env_file}, line {number}: ")


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise ConfigError naming the variable on a bad value."""
    check_variables(os.environ)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"][0] if err["loc"] else ""
        name = f"{ENV_PREFIX}{str(loc).upper()}"
        got = err.get("input")
        got_text = f" (got {got!r})" if isinstance(got, str | int | float) else ""
        raise ConfigError(f"{name}: {err['msg']}{got_text}") from None
