"""Data shipped with regwatch: vendor catalog, source catalog, starter subscriptions."""
