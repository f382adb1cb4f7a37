"""The `osqueryi` engine: run SQL through a real osqueryi with the extension loaded.

    osqueryi --extension <dir>/<name>.ext --disable_extensions=false
             --extensions_require=<name> --extensions_socket=<dir>/shell.em
             --extensions_timeout=T --extensions_interval=I [--json] ["<sql>"]

What osqueryi needs, and how it is set up here:

- `--extension` names one binary to autoload (a shell-only flag). osqueryi
  starts it only if it is safe (`safePermissions`,
  osquery/filesystem/filesystem.cpp): a regular, executable file owned by
  root or the user running osqueryi, not world-writable, in a directory
  without the sticky bit. The extension's command (a venv's python, say)
  is wrapped in `<name>.ext`, mode 0755, in a private 0700 directory made
  for the run, and checked with the same rules before osqueryi starts. No
  `--allow_unsafe`: a wrapper that osquery would refuse is refused here too,
  with the reason.
- `--extensions_require` makes osqueryi wait (up to `--extensions_timeout`
  seconds) for the extension to register before running the query, and
  fail if it never does.
- `--extensions_socket` in the same private directory: osqueryi's default
  (`~/.osquery/shell.em`) would be shared with any other osqueryi.
- osqueryi appends `--socket S --timeout T --interval I` when it starts the
  wrapper, which passes them on ("$@").

osqueryi cannot be asked whether a replay is drained, so the extension is
started with `--register-after-drain` by the caller. Tested against
tests/fakes/osqueryi, a test double that enforces the same rules.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from typing import Sequence

from .database import Result
from .errors import QueryError

# Output mode -> osqueryi's flag for it (pretty is its default).
MODE_FLAGS = {"pretty": [], "json": ["--json"], "csv": ["--csv"], "line": ["--line"], "list": ["--list"]}


def find_osqueryi() -> str | None:
    return shutil.which("osqueryi")


def unsafe_reason(path: str) -> str | None:
    """Why osquery's safePermissions would refuse to start `path`, or None."""
    try:
        st = os.stat(path)
        directory = os.stat(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        return "cannot stat it: %s" % exc.strerror
    if directory.st_mode & stat.S_ISVTX:
        return "its directory has the sticky bit (a /tmp-like directory)"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid not in (0, os.getuid()):
        return "it is owned by uid %d, neither root nor the current user" % st.st_uid
    if not st.st_mode & stat.S_IXUSR:
        return "it is not executable"
    if st.st_mode & stat.S_IWOTH:
        return "it is world-writable"
    return None


def write_wrapper(argv_prefix: Sequence[str], directory: str, name: str) -> str:
    """Write an executable `<name>.ext` that execs `argv_prefix` plus osqueryi's flags."""
    path = os.path.join(directory, name + ".ext")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s \"$@\"\n" % " ".join(shlex.quote(a) for a in argv_prefix))
    os.chmod(path, 0o755)  # owner-executable, not world-writable
    return path


def build_argv(osqueryi: str, wrapper: str, extension_name: str, socket_path: str,
               sql: str | None = None, timeout: int = 3, interval: int = 3,
               output: Sequence[str] = ("--json",)) -> list[str]:
    argv = [
        osqueryi,
        "--extension", wrapper,
        "--disable_extensions=false",
        "--extensions_require=" + extension_name,
        "--extensions_socket=" + socket_path,
        "--extensions_timeout=%d" % timeout,
        "--extensions_interval=%d" % interval,
        *output,
    ]
    if sql is not None:
        argv.append(sql)
    return argv


def parse_json_output(text: str) -> Result:
    """osqueryi --json rows -> Result (columns sorted: osqueryi sorts keys)."""
    rows = json.loads(text) if text.strip() else []
    columns = sorted({key for row in rows for key in row})
    return Result(columns, [tuple(row.get(c, "") for c in columns) for row in rows])


class _Prepared:
    """A private directory with the wrapper and the socket path, removed afterwards."""

    def __init__(self, argv_prefix: Sequence[str], extension_name: str, osqueryi: str | None):
        self.osqueryi = osqueryi or find_osqueryi()
        if self.osqueryi is None:
            raise QueryError("osqueryi is not on PATH (install osquery, or use --engine embedded)")
        self.directory = tempfile.mkdtemp(prefix="osq-esf-")  # 0700, no sticky bit
        self.wrapper = write_wrapper(argv_prefix, self.directory, extension_name)
        reason = unsafe_reason(self.wrapper)
        if reason is not None:
            self.close()
            raise QueryError("osqueryi would refuse to start %s: %s" % (self.wrapper, reason))
        self.socket = os.path.join(self.directory, "shell.em")

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def run_query(argv_prefix: Sequence[str], sql: str, *, extension_name: str, timeout: int = 3,
              interval: int = 3, osqueryi: str | None = None, wait: float = 600.0) -> list[Result]:
    """The query's rows as osqueryi --json prints them: one array for all statements."""
    prepared = _Prepared(argv_prefix, extension_name, osqueryi)
    try:
        argv = build_argv(prepared.osqueryi, prepared.wrapper, extension_name, prepared.socket,
                          sql, timeout, interval)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=wait, stdin=subprocess.DEVNULL)
    finally:
        prepared.close()
    if proc.returncode != 0:
        raise QueryError(proc.stderr.strip() or "osqueryi exited with status %d" % proc.returncode)
    return [parse_json_output(proc.stdout)]


def shell(argv_prefix: Sequence[str], *, extension_name: str, timeout: int = 3, interval: int = 3,
          osqueryi: str | None = None, output=None) -> int:
    """Interactive osqueryi with the extension loaded; returns its exit status."""
    flags = list(MODE_FLAGS[output.mode]) if output is not None else []
    if output is not None and output.separator is not None:
        flags.append("--separator=" + output.separator)
    if output is not None and not output.header:
        flags.append("--header=false")
    prepared = _Prepared(argv_prefix, extension_name, osqueryi)
    try:
        return subprocess.call(build_argv(prepared.osqueryi, prepared.wrapper, extension_name, prepared.socket,
                                          None, timeout, interval, output=flags))
    finally:
        prepared.close()
