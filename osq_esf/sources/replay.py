"""Replay recorded eslogger JSON Lines (plain, .gz, or - for stdin), on any OS.

Lines are cut by a LineSplitter, so a file without newlines (replay:/dev/zero) costs a
count, not memory; a truncated or corrupt .gz ends the source as failed, with its error,
after every line read before it.

As fast as possible by default; with ``speed`` > 0, paced by the messages' own
``time`` (speed 2 = twice real time).  Lines go to the pipeline in batches of up to
BATCH; from a pipe that has nothing more for now, what arrived goes at once.
"""

from __future__ import annotations

import gzip
import select
import sys
import time
import zlib

import msgspec

from osq_esf.decode import parse_time
from osq_esf.sources.base import BATCH, MAX_LINE, READ_SIZE, LineSplitter, Oversize, Source, SourceError


class _TimeOnly(msgspec.Struct):
    time: str = ""


_TIME_ONLY = msgspec.json.Decoder(_TimeOnly)


def open_recording(path: str):
    """A binary line iterator over a recording; gzip is recognised by its magic bytes."""
    if path == "-":
        return sys.stdin.buffer
    f = open(path, "rb")
    if f.peek(2)[:2] == b"\x1f\x8b" if hasattr(f, "peek") else False:
        return gzip.GzipFile(fileobj=f)
    return f


def _more_to_read(f) -> bool:
    """Whether ``f`` has more bytes ready now (always true of a regular file; a pipe may be empty)."""
    try:
        return bool(select.select([f.fileno()], [], [], 0)[0])
    except (AttributeError, OSError, ValueError):
        return True


class ReplaySource(Source):
    kind = "replay"

    def __init__(self, sink, paths: list[str], spec: str, speed: float = 0.0, name: str = "replay",
                 max_line: int = MAX_LINE):
        if not paths:
            raise SourceError("replay needs a file: --source replay:PATH (or replay:- for stdin)")
        for p in paths:
            if p != "-":
                try:
                    open(p, "rb").close()
                except OSError as e:
                    raise SourceError(f"replay: cannot read {p}: {e.strerror}") from None
        super().__init__(sink, name, spec)
        self.paths = paths
        self.speed = speed
        self.max_line = max_line

    def run(self) -> None:
        self.state.set_state("running")
        for path in self.paths:
            if self.stopping:
                break
            f = open_recording(path)
            try:
                self._feed(f, path)
            finally:
                if f is not sys.stdin.buffer:
                    f.close()
        self.state.set_state("stopped" if self.stopping else "drained")

    def _feed(self, f, path: str) -> None:
        """Read ``f`` in bounded chunks; a read error (a truncated or corrupt .gz) ends the
        source as failed once every complete line before it is in (Source._main)."""
        splitter = LineSplitter(self.max_line)
        read = getattr(f, "read1", f.read)
        pending: list = []
        first_msg = first_wall = None
        failure = None
        try:
            while not self.stopping:
                data = read(READ_SIZE)
                if not data:
                    break
                for item in splitter.feed(data):
                    if self.speed > 0 and type(item) is not Oversize:
                        t = self._message_time(item)
                        if t is not None:
                            if first_msg is None:
                                first_msg, first_wall = t, time.monotonic()
                            delay = first_wall + (t - first_msg) / self.speed - time.monotonic()
                            if delay > 0:
                                self.deliver(pending)
                                pending = []
                                if self._stop.wait(delay):
                                    return
                    pending.append(item)
                # A full batch, or a pipe that has nothing more for now (a live writer pausing):
                # what arrived is ingested instead of waiting for the rest of a batch.
                if len(pending) >= BATCH or (pending and not _more_to_read(f)):
                    self.deliver(pending)
                    pending = []
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            failure = SourceError(f"{path}: {type(e).__name__}: {e}")
        finally:
            if not self.stopping:
                pending += splitter.flush()  # a last line without newline, or one cut by the error
            self.deliver(pending)
        if failure is not None:
            raise failure

    @staticmethod
    def _message_time(line: bytes) -> float | None:
        try:
            sec, nsec = parse_time(_TIME_ONLY.decode(line).time)
            return sec + nsec / 1e9
        except Exception:
            return None  # the pipeline will count the line as an error
