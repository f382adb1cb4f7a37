"""osq-esf: Apple Endpoint Security events as osquery tables."""

__version__ = "0.1.0"
