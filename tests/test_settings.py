from pathlib import Path

import pytest

from bot.domain.errors import ConfigError
from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_with_a_comment():
    lines = (ROOT / "settings.example.env").read_text().splitlines()
    for name in Settings.model_fields:
        var = f"REGWATCH_{name.upper()}"
        at = next((i for i, line in enumerate(lines) if line.lstrip("# ").startswith(f"{var}=")), None)
        assert at is not None, f"{var} missing from settings.example.env"
        assert lines[at - 1].startswith("#"), f"{var} has no comment above it"


def test_example_file_loads_as_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((ROOT / "settings.example.env").read_text())
    settings = load_settings()
    assert settings.discord_token is None and settings.poll_interval_seconds == 900
    assert settings.sources_file is None and settings.discord_dev_guild_id is None


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "REGWATCH_POLL_INTERVAL_SECONDS",
            "4",
            "REGWATCH_POLL_INTERVAL_SECONDS: Input should be greater than or equal to 5",
        ),
        ("REGWATCH_LOG_FORMAT", "xml", "REGWATCH_LOG_FORMAT: Input should be 'text' or 'json'"),
        (
            "REGWATCH_ALLOW_PRIVATE_NETWORKS",
            "maybe",
            "REGWATCH_ALLOW_PRIVATE_NETWORKS: Input should be a valid boolean",
        ),
        (
            "REGWATCH_DISCORD_API_BASE",
            "discord.com",
            "REGWATCH_DISCORD_API_BASE: Value error, must be an http(s)",
        ),
        (
            "REGWATCH_HEALTH_PORT",
            "70000",
            "REGWATCH_HEALTH_PORT: Input should be less than or equal to 65535",
        ),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, tmp_path, var, value, expected):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_token_is_secret(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGWATCH_DISCORD_TOKEN", "abc.def.ghi")
    settings = load_settings()
    assert "abc.def.ghi" not in repr(settings) and settings.discord_token.get_secret_value() == "abc.def.ghi"
