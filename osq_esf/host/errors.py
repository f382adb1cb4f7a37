"""Errors the runner API raises (callers need not know apsw or thrift)."""


class HostError(RuntimeError):
    """Base class for embedded-host failures."""


class QueryError(HostError):
    """A statement failed; the message is the SQLite/osquery error text."""


class ExtensionStartError(HostError):
    """The extension child exited or did not register in time."""
