"""Standard output and error that no text from outside can take over.

`guarded` wraps a stream so that everything written through it passes `safetext.terminal_block`:
every control character but the newline, and every bidi or invisible character, is removed
before the terminal sees it. The command line installs it around every command (bot/cli.py), so
a path that forgets to clean a field still cannot emit an escape sequence; fields are also
cleaned one by one (`safetext.terminal`), which keeps a hostile newline from forging a line.
"""

from __future__ import annotations

from typing import Any, TextIO, cast

from bot.domain.safetext import terminal_block


class _Guarded:
    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(terminal_block(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guarded(stream: TextIO) -> TextIO:
    """Return `stream` behind the terminal sanitizer (the same stream if it is guarded already)."""
    if isinstance(stream, _Guarded):
        return cast(TextIO, stream)
    return cast(TextIO, _Guarded(stream))
