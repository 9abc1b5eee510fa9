"""Pure types and rules: no network, no database, no Discord."""
