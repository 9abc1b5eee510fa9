"""regwatch: regulatory alerts for the vendors you depend on."""

__version__ = "0.1.0"
