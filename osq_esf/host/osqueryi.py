"""The `osqueryi` engine: run SQL through a real osqueryi with the extension.

    osqueryi --extension <dir>/<name>.ext --allow_unsafe --extensions_require=<name>
             --extensions_socket=<dir>/shell.em --json "<sql>"

`--extension` skips osqueryi's `.ext` suffix and safety checks at discovery,
but the launch still needs safe permissions unless `--allow_unsafe`
(reference §7.3). osqueryi then execs the wrapper with
`--socket S --timeout T --interval I`, which it forwards to the real argv.
Untested here (no osqueryi on this machine); kept deliberately small.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from typing import Sequence

from .database import Result
from .errors import QueryError


def find_osqueryi() -> str | None:
    return shutil.which("osqueryi")


def write_wrapper(argv_prefix: Sequence[str], directory: str, name: str) -> str:
    """Write an executable `<name>.ext` that execs `argv_prefix` plus osqueryi's flags."""
    path = os.path.join(directory, name + ".ext")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s \"$@\"\n" % " ".join(shlex.quote(a) for a in argv_prefix))
    os.chmod(path, 0o755)  # owner-executable, not world-writable
    return path


def build_argv(osqueryi: str, wrapper: str, extension_name: str, socket_path: str,
               sql: str | None = None, timeout: int = 3, interval: int = 3) -> list[str]:
    argv = [
        osqueryi,
        "--extension", wrapper,
        "--allow_unsafe",
        "--extensions_require=" + extension_name,
        "--extensions_socket=" + socket_path,
        "--extensions_timeout=%d" % timeout,
        "--extensions_interval=%d" % interval,
    ]
    if sql is not None:
        argv += ["--json", sql]
    return argv


def parse_json_output(text: str) -> Result:
    """osqueryi --json rows -> Result (columns sorted: osqueryi sorts keys)."""
    rows = json.loads(text) if text.strip() else []
    columns = sorted({key for row in rows for key in row})
    return Result(columns, [tuple(row.get(c, "") for c in columns) for row in rows])


def run_query(argv_prefix: Sequence[str], sql: str, *, extension_name: str, timeout: int = 3,
              interval: int = 3, osqueryi: str | None = None, wait: float = 600.0) -> Result:
    osqueryi = osqueryi or find_osqueryi()
    if osqueryi is None:
        raise QueryError("osqueryi is not on PATH")
    with tempfile.TemporaryDirectory(prefix="osq-esf-") as directory:
        wrapper = write_wrapper(argv_prefix, directory, extension_name)
        argv = build_argv(osqueryi, wrapper, extension_name, os.path.join(directory, "shell.em"),
                          sql, timeout, interval)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=wait,
                              stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise QueryError(proc.stderr.strip() or "osqueryi exited with status %d" % proc.returncode)
    return parse_json_output(proc.stdout)


def shell(argv_prefix: Sequence[str], *, extension_name: str, timeout: int = 3, interval: int = 3,
          osqueryi: str | None = None) -> int:
    """Interactive osqueryi with the extension loaded; returns its exit status."""
    osqueryi = osqueryi or find_osqueryi()
    if osqueryi is None:
        raise QueryError("osqueryi is not on PATH")
    with tempfile.TemporaryDirectory(prefix="osq-esf-") as directory:
        wrapper = write_wrapper(argv_prefix, directory, extension_name)
        argv = build_argv(osqueryi, wrapper, extension_name, os.path.join(directory, "shell.em"),
                          None, timeout, interval)
        return subprocess.call(argv)
