"""Use cases behind the chat commands: validate, apply per-server rules, call storage."""
