"""Where `osq-esf run` logs: stderr always, optionally a rotated file, and syslog on macOS.

- stderr: osqueryd and orbit keep an autoloaded extension's stderr (orbit's
  LaunchDaemon writes it to /var/log/orbit/orbit.stderr.log); every line
  carries a UTC timestamp.
- `--log-file PATH`: a rotating file, `LOG_FILE_BYTES` per file and
  `LOG_FILE_BACKUPS` old files (PATH.1 ... PATH.5), so it never grows without
  bound; for the LaunchDaemon (`--standalone`).
- syslog, on by default on macOS (`--no-syslog` turns it off): through the C
  library's syslog(3), which macOS hands to the unified log. Read it with
  `log show --last 1h --info --predicate 'process == "osq-esf"'` (the
  process is the app bundle's launcher; `eventMessage CONTAINS "osq-esf"`
  finds the lines of any process). Unverified on a Mac.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from typing import Callable

LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5
FORMAT = "%(asctime)s.%(msecs)03dZ osq-esf[%(process)d] %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
SYSLOG_IDENT = "osq-esf"


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime


class SyslogHandler(logging.Handler):
    """Records to syslog(3) with a priority per level; `emit_line` is replaceable for tests."""

    PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def __init__(self, emit_line: Callable[[int, str], None] | None = None):
        super().__init__()
        if emit_line is None:
            import syslog

            syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, syslog.LOG_DAEMON)
            emit_line = syslog.syslog
        self.emit_line = emit_line
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            priority = self.PRIORITIES.get(record.levelno, 6)
            self.emit_line(priority, self.format(record))
        except Exception:  # noqa: BLE001 - logging must never take the extension down
            self.handleError(record)


def configure(verbose: bool = False, log_file: str | None = None, syslog: bool | None = None,
              stream=None) -> list[logging.Handler]:
    """Install the handlers on the `osq_esf` logger; returns them."""
    level = logging.INFO if verbose else logging.WARNING
    formatter = _UTCFormatter(FORMAT, DATE_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if log_file:
        handlers.append(logging.handlers.RotatingFileHandler(
            log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(formatter)
    if syslog if syslog is not None else sys.platform == "darwin":
        handlers.append(SyslogHandler())
    root = logging.getLogger("osq_esf")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(level)
    for h in handlers:
        root.addHandler(h)
    # thrift logs a traceback for every refused connect; our own messages say it better.
    logging.getLogger("thrift").setLevel(logging.CRITICAL)
    return handlers
