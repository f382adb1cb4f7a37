"""What every event source is: a thread that feeds lines to the pipeline's sink."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from osq_esf.stages import Sink

BATCH = 512  # lines per pipeline call: amortises the lock, bounds a generate's wait
READ_SIZE = 1 << 18
# [input] max_line_bytes by default: far above the largest legal exec (1 MiB of argv and env,
# escaped by eslogger up to six bytes a byte), far below what could hurt.
MAX_LINE = 16 << 20
OVERSIZE_HEAD = 200  # bytes of an over-long line kept for its (redacted) sample


def max_line_of(config) -> int:
    """[input] max_line_bytes, or its default."""
    return config.input.max_line_bytes if config is not None else MAX_LINE


@dataclass(frozen=True)
class Oversize:
    """A line longer than the cap: its first bytes and its length (it was not kept)."""

    head: bytes
    length: int
    cap: int

    def why(self) -> str:
        return f"line longer than {self.cap} bytes ({self.length} bytes), skipped to the next newline"


class LineSplitter:
    """Cuts a byte stream into lines without ever holding more than ``max_line`` bytes of one.

    ``feed`` returns the complete lines (without their newline) and, in stream order, an
    :class:`Oversize` for each line that grew past the cap: its bytes are dropped as they
    arrive and splitting resumes after its newline (a source that never writes one costs
    nothing but the count).  ``flush`` returns what is left at the end of the stream.
    """

    def __init__(self, max_line: int = MAX_LINE):
        self.max_line = max_line
        self._parts: list[bytes] = []  # the incomplete last line, in pieces (no quadratic joins)
        self._size = 0
        self._skipping: Oversize | None = None  # the over-long line being skipped

    def feed(self, data: bytes) -> list:
        out: list = []
        start, n = 0, len(data)
        while start < n:
            nl = data.find(b"\n", start)
            end = n if nl < 0 else nl
            if self._skipping is not None:
                s = self._skipping
                self._skipping = Oversize(s.head, s.length + end - start, s.cap)
                if nl >= 0:
                    out.append(self._skipping)
                    self._skipping = None
            elif self._size + end - start > self.max_line:
                head = b"".join(self._parts)[:OVERSIZE_HEAD] if self._parts else b""
                head += data[start:min(end, start + OVERSIZE_HEAD - len(head))]
                self._skipping = Oversize(head, self._size + end - start, self.max_line)
                self._parts, self._size = [], 0
                if nl >= 0:
                    out.append(self._skipping)
                    self._skipping = None
            elif nl < 0:
                self._parts.append(data[start:])
                self._size += n - start
            else:
                if self._parts:
                    self._parts.append(data[start:nl])
                    out.append(b"".join(self._parts))
                    self._parts, self._size = [], 0
                else:
                    out.append(data[start:nl])
            if nl < 0:
                break
            start = nl + 1
        return out

    def flush(self) -> list:
        """The stream ended: a partial last line (a cut write), or the over-long line being skipped."""
        out: list = []
        if self._skipping is not None:
            out.append(self._skipping)
        elif self._parts:
            out.append(b"".join(self._parts))
        self._parts, self._size, self._skipping = [], 0, None
        return out


class SourceError(ValueError):
    """A --source spec that cannot be used; the text says how to fix it."""


class Source:
    """Base class: subclasses implement :meth:`run` and may override :meth:`stop`."""

    kind = "?"
    live = False  # events happen now, on this machine (eslogger, native) rather than replayed

    def __init__(self, sink: Sink, name: str, spec: str):
        self.sink = sink
        self.state = sink.add_source(name, self.kind, spec, self.live)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"source-{self.state.name}", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self.run()
        except Exception as e:  # a source failing must not take the extension down
            self.state.set_state("failed", f"{type(e).__name__}: {e}")

    def run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def deliver(self, items: list) -> int:
        """Hand ``LineSplitter`` output to the pipeline: lines in batches, each Oversize as a
        counted decode error in its place in the stream.  Returns the events buffered."""
        ingest, st, n, batch = self.sink.ingest, self.state, 0, []
        for item in items:
            if type(item) is Oversize:
                if batch:
                    n += ingest(st, batch)
                    batch = []
                self.sink.reject_line(st, item.head, item.why())
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                n += ingest(st, batch)
                batch = []
        if batch:
            n += ingest(st, batch)
        return n
