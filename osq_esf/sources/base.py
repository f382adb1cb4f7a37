"""What every event source is: a thread that feeds lines to the pipeline's sink."""

from __future__ import annotations

import threading

from osq_esf.stages import Sink

BATCH = 512  # lines per pipeline call: amortises the lock, bounds a generate's wait


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
