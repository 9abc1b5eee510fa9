"""`python -m bot` runs the regwatch command."""

from bot.cli import main

raise SystemExit(main())
