"""An embedded osquery-compatible core for running and testing extensions.

This package stands apart from the product: it imports nothing from the
rest of osq_esf. Entry points:

- `Host`: the ExtensionManager service on a UNIX socket, with SQLite tables
  for registered extensions, the ping watcher and the `time` /
  `osquery_extensions` core tables.
- `EmbeddedSession`, `run_query`, `run_shell`: launch an extension child the
  way osqueryd autoloads it and query it (used by `osq-esf query|shell`).
- `format_result` (table/json/csv as osqueryi prints them), `Shell`.
"""

from .database import Result
from .errors import ExtensionStartError, HostError, QueryError
from .manager import Host
from .output import format_csv, format_json, format_result, format_table
from .runner import EmbeddedSession, QueryResult, resolve_engine, run_query, run_shell
from .shell import Shell

__all__ = [
    "EmbeddedSession", "ExtensionStartError", "Host", "HostError", "QueryError", "QueryResult",
    "Result", "Shell", "format_csv", "format_json", "format_result", "format_table",
    "resolve_engine", "run_query", "run_shell",
]
