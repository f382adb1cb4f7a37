"""An embedded osquery-compatible core for running and testing extensions.

This package stands apart from the product: it imports nothing from the
rest of osq_esf. Entry points:

- `Host`: the ExtensionManager service on a UNIX socket, with SQLite tables
  for registered extensions, the ping watcher and the `time` /
  `osquery_extensions` core tables.
- `EmbeddedSession`, `run_query[_all]`, `run_shell`: launch an extension child the
  way osqueryd autoloads it and query it (used by `osq-esf query|shell`).
- `format_result` / `render` (osqueryi's pretty, line, list, csv and json output), `Shell`.
- `functions` (osquery's SQL additions), `packs` and `scheduler` (packs run
  as osqueryd's scheduler runs them, in simulated time, with its result log).
"""

from .database import Result
from .errors import ExtensionStartError, HostError, QueryError
from .manager import Host
from .output import OutputOptions, format_csv, format_json, format_result, format_table, render
from .runner import EmbeddedSession, QueryResult, resolve_engine, run_query, run_query_all, run_shell
from .shell import Shell

__all__ = [
    "EmbeddedSession", "ExtensionStartError", "Host", "HostError", "OutputOptions", "QueryError", "QueryResult",
    "Result", "Shell", "format_csv", "format_json", "format_result", "format_table", "render",
    "resolve_engine", "run_query", "run_query_all", "run_shell",
]
