"""Replay recorded eslogger JSON Lines (plain, .gz, or - for stdin), on any OS.

As fast as possible by default; with ``speed`` > 0, paced by the messages' own
``time`` (speed 2 = twice real time).
"""

from __future__ import annotations

import gzip
import sys
import time

import msgspec

from osq_esf.decode import parse_time
from osq_esf.sources.base import BATCH, Source, SourceError


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


class ReplaySource(Source):
    kind = "replay"

    def __init__(self, sink, paths: list[str], spec: str, speed: float = 0.0, name: str = "replay"):
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

    def run(self) -> None:
        self.state.set_state("running")
        for path in self.paths:
            if self.stopping:
                break
            f = open_recording(path)
            try:
                self._feed(f)
            finally:
                if f is not sys.stdin.buffer:
                    f.close()
        self.state.set_state("stopped" if self.stopping else "drained")

    def _feed(self, f) -> None:
        ingest, st = self.sink.ingest, self.state
        batch: list[bytes] = []
        first_msg = first_wall = None
        try:
            for line in f:
                if self.stopping:
                    return
                if self.speed > 0:
                    t = self._message_time(line)
                    if t is not None:
                        if first_msg is None:
                            first_msg, first_wall = t, time.monotonic()
                        delay = first_wall + (t - first_msg) / self.speed - time.monotonic()
                        if delay > 0:
                            if batch:
                                ingest(st, batch)
                                batch = []
                            if self._stop.wait(delay):
                                return
                batch.append(line)
                if len(batch) >= BATCH:
                    ingest(st, batch)
                    batch = []
        except (OSError, EOFError) as e:  # e.g. a truncated .gz: keep what was read
            st.last_error = f"{type(e).__name__}: {e}"
        finally:
            if batch:
                ingest(st, batch)

    @staticmethod
    def _message_time(line: bytes) -> float | None:
        try:
            sec, nsec = parse_time(_TIME_ONLY.decode(line).time)
            return sec + nsec / 1e9
        except Exception:
            return None  # the pipeline will count the line as an error
