"""Delivery: the outbox dispatcher, rendering and the sinks."""
