"""compose.yaml: the default stays the one SQLite service; the `scale` profile adds PostgreSQL 15,
three workers and a gateway on it, built with the postgres extra (no Docker needed: the file is read)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCALE = ("postgres", "worker", "gateway")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_default_profile_is_the_single_sqlite_service():
    services = _compose()["services"]
    # Services without a profile are the ones `docker compose up` starts: only the SQLite one.
    default = [name for name, service in services.items() if not service.get("profiles")]
    assert default == ["regwatch"]
    regwatch = services["regwatch"]
    assert regwatch["command"] == ["run"]
    assert regwatch["build"] == "."  # the image without extras: nothing but Python and SQLite
    assert regwatch["environment"]["REGWATCH_DATABASE_PATH"] == "/data/regwatch.db"
    assert "REGWATCH_DATABASE_URL" not in regwatch["environment"]
    assert "regwatch-data:/data" in regwatch["volumes"]


def test_the_scale_profile_runs_postgres_three_workers_and_a_gateway():
    compose = _compose()
    services = compose["services"]
    for name in SCALE:
        assert services[name]["profiles"] == ["scale"], name
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "ports" not in postgres  # reached on compose's network only
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data")).split(":")[0]
    assert volume in compose["volumes"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["gateway"]["command"] == ["gateway"]
    assert services["gateway"].get("deploy", {}).get("replicas", 1) == 1


def test_the_roles_use_the_postgres_service_and_an_image_with_the_postgres_extra():
    services = _compose()["services"]
    postgres_env = services["postgres"]["environment"]
    for name in ("worker", "gateway"):
        service = services[name]
        assert service["build"]["args"]["EXTRAS"] == "postgres", name
        url = service["environment"]["REGWATCH_DATABASE_URL"]
        match = re.fullmatch(r"postgresql://(\w+):\$\{POSTGRES_PASSWORD:-\}@postgres:5432/(\w+)", url)
        assert match is not None, url
        assert match.groups() == (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"])
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in service  # three replicas cannot share one published port
    # The Dockerfile installs the extras named by the build argument.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ARG EXTRAS=""' in dockerfile
    assert '".${EXTRAS:+[$EXTRAS]}"' in dockerfile


def test_every_service_named_in_the_scale_command_exists():
    # The command the comment and docs/scaling.md give starts these services by name.
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    command = "docker compose --profile scale up -d postgres worker gateway"
    assert command in text
    assert command in docs
    assert set(command.split()[-3:]) == set(SCALE) <= set(_compose()["services"])
