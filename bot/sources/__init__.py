"""Fetching and one adapter per source kind (feeds, JSON APIs, HTML lists)."""
