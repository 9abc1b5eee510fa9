"""Refuse to keep the database inside a container's writable layer, where an upgrade loses it.

`docker run --env-file .env` with REGWATCH_DATABASE_PATH=regwatch.db puts the database in the
container layer: every subscription is gone when the container is replaced. The image sets
REGWATCH_IN_CONTAINER=1, so there this is a configuration error; in any other container (a
/.dockerenv or /run/.containerenv file, e.g. a CI job) it is a loud warning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MARKER_VARIABLE = "REGWATCH_IN_CONTAINER"
MARKER_FILES = (Path("/.dockerenv"), Path("/run/.containerenv"))
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True, slots=True)
class VolumeProblem:
    """The database is on the container's own file system; fatal in the regwatch image."""

    message: str
    fatal: bool


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...).
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_point(path: Path, mountinfo: str) -> str:
    """Return the mount point (from /proc/self/mountinfo text) that holds an absolute path."""
    points = [_unescape(line.split()[4]) for line in mountinfo.splitlines() if len(line.split()) > 4]
    text = str(path)
    best = "/"
    for point in points:
        inside = text == point or text.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best = point
    return best


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def on_root_filesystem(directory: Path, mountinfo: Path = MOUNTINFO) -> bool:
    """Return True when the directory lives on the root file system, not on a mounted volume."""
    folder = _existing(directory.resolve())
    try:
        return mount_point(folder, mountinfo.read_text(encoding="utf-8")) == "/"
    except OSError:
        # No /proc: compare devices (a volume is another device than the root).
        return folder.stat().st_dev == Path("/").stat().st_dev


def in_container(environ: Mapping[str, str], markers: Sequence[Path] = MARKER_FILES) -> tuple[bool, bool]:
    """Return (in a container, in the regwatch image)."""
    image = environ.get(MARKER_VARIABLE, "").strip().lower() in ("1", "true", "yes")
    return image or any(m.exists() for m in markers), image


def database_volume_problem(
    database_path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    markers: Sequence[Path] = MARKER_FILES,
    mountinfo: Path = MOUNTINFO,
) -> VolumeProblem | None:
    """Say whether the database would be lost with the container; None when all is well."""
    container, image = in_container(os.environ if environ is None else environ, markers)
    if not container:
        return None
    folder = database_path.resolve().parent
    if not on_root_filesystem(folder, mountinfo):
        return None
    message = (
        f"REGWATCH_DATABASE_PATH: {database_path.resolve()} is inside the container, not on a volume;"
        " it would be lost when the container is replaced. Mount a volume there"
        " (docker run -v regwatch-data:/data) and leave REGWATCH_DATABASE_PATH unset to use"
        " /data/regwatch.db"
    )
    return VolumeProblem(message, fatal=image)
