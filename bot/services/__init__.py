"""Use cases for every front end (the CLI and the slash commands), each in a scope: bot/services/scope.py."""
