"""Built-in data files: vendor catalog, sources, starter subscriptions."""
