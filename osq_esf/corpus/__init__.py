"""Deterministic generator of eslogger-shaped JSON Lines (tests, the bundled demo, bench).

There is no Mac in CI, so recordings come from a simulated one (:mod:`.world`) that
follows eslogger's real schema: every envelope, process, file and stat key for the
message version, tokens as objects or 8-element arrays, keys in varying order, ``/``
escaped as ``\\/``.  Five scenarios: ``demo`` (:mod:`.scenarios`), a story a
detection engineer recognises; ``bench`` (:mod:`.bench`), a realistic high-volume mix;
``types`` (:mod:`.every_type`), every one of the 104 NOTIFY types, for decoders and tables; and
``attacks`` and ``workday`` (:mod:`.detections`), what the detection pack must catch and the benign
day it must stay quiet on, with the results it must report (:attr:`Corpus.expected`).  Several
ES clients, injected gaps, repeats and garbage come with exact ground truth
(:mod:`.streams`).  Same seed and options, same bytes.

    >>> c = generate("bench", events=50, seed=1, clients="default", gaps=2)
    >>> len(c.lines) > 0, sorted(c.truth.lost_global) == sorted(c.truth.clients)
    (True, True)

Everything in the output is generated: names use example.invalid and hashes are made up.
"""

from __future__ import annotations

import gzip
import os
import queue
import sys
import threading
from dataclasses import dataclass, field
from typing import Iterator

from osq_esf.corpus import bench, detections, every_type, scenarios
from osq_esf.corpus.render import Envelopes
from osq_esf.corpus.streams import DEFAULT_CLIENTS, GARBAGE_KINDS, Streams, Truth, parse_clients, parse_garbage, per_client
from osq_esf.corpus.world import Mac

__all__ = ["generate", "write", "Corpus", "Expected", "Truth", "DEFAULT_CLIENTS", "GARBAGE_KINDS", "SCENARIOS",
           "VERSIONS"]
Expected = detections.Expected

# scenario -> (the generator that drives the Mac, its default number of messages)
SCENARIOS = {"demo": (scenarios.demo, 2500), "bench": (bench.bench, 100_000), "types": (every_type.types, 104),
             "attacks": (detections.attacks, 1500), "workday": (detections.workday, 1500)}
VERSIONS = tuple(range(1, 12))
TOKEN_FORMS = ("object", "array", "mixed")
DEMO_T0 = 1_791_190_800 * 10**9  # 2026-10-05T09:00:00Z, a few seconds after boot
BENCH_T0 = 1_791_072_000 * 10**9  # 2026-10-04T00:00:00Z, hours after boot
ATTACKS_T0 = 1_791_291_600 * 10**9  # 2026-10-06T13:00:00Z
WORKDAY_T0 = 1_791_363_600 * 10**9  # 2026-10-07T09:00:00Z
# scenario -> (first message time, uptime then, default events per second, file stats change at every write)
CLOCKS = {"demo": (DEMO_T0, int(2e9), 20.0, True), "attacks": (ATTACKS_T0, int(9 * 3600e9), 20.0, True),
          "workday": (WORKDAY_T0, int(3600e9), 20.0, True)}
OTHER_CLOCK = (BENCH_T0, int(5 * 3600e9), 5000.0, False)


@dataclass(frozen=True)
class Spec:
    """Normalised options of one corpus."""

    scenario: str
    events: int
    seed: int
    versions: tuple[int, ...]
    token_forms: tuple[str, ...]
    shuffle_keys: bool
    escape_slashes: bool
    clients: dict = field(hash=False)
    gaps: dict = field(hash=False)
    repeats: dict = field(hash=False)
    garbage: dict = field(hash=False)
    crlf: bool
    rate: float


def _versions(version) -> tuple[int, ...]:
    if version == "mixed":
        return VERSIONS
    if isinstance(version, (int, str)):
        version = (int(version),)
    vs = tuple(int(v) for v in version)
    if not vs or any(v not in VERSIONS for v in vs):
        raise ValueError(f"message versions are 1-11 or 'mixed', not {version!r}")
    return vs


def generate(scenario: str = "demo", *, events: int | None = None, seed: int = 0, version=9,
             token_form: str = "object", shuffle_keys: bool = True, escape_slashes: bool = True, clients=None,
             gaps=None, repeats=None, garbage=0, crlf: bool = False, rate: float | None = None) -> "Corpus":
    """Describe a corpus; lines are made when iterated (see :class:`Corpus`).

    ``version``: 1-11, "mixed" (each message 1-11) or a sequence to mix.  ``token_form``:
    "object", "array" (the 8-element form of some macOS 26 builds) or "mixed".
    ``clients``: None (one client, every type), "default" (process/file/memory/device),
    ``{name: [types]}`` or ``"a=exec,fork;b=open"``.  ``gaps``/``repeats``: messages to drop /
    re-emit per client (int or ``{client: n}``).  ``garbage``: int or ``{kind: n}`` over
    :data:`GARBAGE_KINDS`.  ``rate``: mean events per second of the simulated clock.
    ``events``: bench emits exactly that many messages (before client filtering); demo,
    attacks and workday always tell their whole story and fill up to ``events`` with noise;
    types runs cycles of every NOTIFY type the message version can carry until ``events``.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}: choose from {', '.join(SCENARIOS)}")
    if token_form not in TOKEN_FORMS:
        raise ValueError(f"token_form {token_form!r}: choose from {', '.join(TOKEN_FORMS)}")
    default_events = SCENARIOS[scenario][1]
    events = default_events if events is None else int(events)
    if events < 1:
        raise ValueError("events must be at least 1")
    versions = _versions(version)
    parsed = parse_clients(clients)
    gaps_d = per_client(gaps, parsed, "gaps")
    repeats_d = per_client(repeats, parsed, "repeats")
    if (any(gaps_d.values()) or any(repeats_d.values())) and min(versions) < 4:
        raise ValueError("gaps and repeats need sequence numbers in every message: use message versions >= 4")
    forms = ("object", "array") if token_form == "mixed" else (token_form,)
    spec = Spec(scenario, events, int(seed), versions, forms, bool(shuffle_keys), bool(escape_slashes), parsed,
                gaps_d, repeats_d, parse_garbage(garbage), bool(crlf),
                float(rate) if rate else CLOCKS.get(scenario, OTHER_CLOCK)[2])
    return Corpus(spec)


class Corpus:
    """A generated recording.  Iteration regenerates it (deterministically) each time.

    ``lines`` materialises every line (fine for thousands; stream big corpora with
    :meth:`iter_lines` or :meth:`write`).  Lines end with ``\\n`` (``\\r\\n`` with crlf),
    except a ``truncated`` garbage last line.  With several clients, ``lines`` is
    their streams interleaved in time order; each stream's numbers are its own, so
    account per client with :meth:`by_client` (or write one file per client).
    """

    def __init__(self, spec: Spec):
        self.spec = spec
        self._truth: Truth | None = None
        self._expected: list | None = None
        self._lines: list[bytes] | None = None

    def _streams(self) -> tuple[Streams, Iterator]:
        s = self.spec
        t0, uptime, _, live_stat = CLOCKS.get(s.scenario, OTHER_CLOCK)
        mac = Mac(s.seed, versions=s.versions, token_forms=s.token_forms, shuffle=s.shuffle_keys,
                  escape=s.escape_slashes, t0_ns=t0, uptime_ns=uptime, rate=s.rate, live_stat=live_stat)
        streams = Streams(mac, s.clients, seed=s.seed, expected=s.events, gaps=s.gaps, repeats=s.repeats,
                          garbage=s.garbage, crlf=s.crlf, envelopes=Envelopes(mac.style, 16))
        steps = SCENARIOS[s.scenario][0](mac, s.events)
        return streams, streams.run(steps)

    def iter_tagged(self) -> Iterator[tuple[str, bytes]]:
        """``(client, line)`` in output order; the truth is complete once this is exhausted."""
        streams, it = self._streams()
        yield from it
        self._truth = streams.truth
        self._expected = list(streams.mac.expected)

    def iter_lines(self) -> Iterator[bytes]:
        for _, line in self.iter_tagged():
            yield line

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_lines()

    @property
    def lines(self) -> list[bytes]:
        if self._lines is None:
            self._lines = list(self.iter_lines())
        return self._lines

    def by_client(self) -> dict[str, list[bytes]]:
        """Each client's stream, as its own eslogger process would have written it."""
        out: dict[str, list[bytes]] = {c: [] for c in self.spec.clients}
        for c, line in self.iter_tagged():
            out[c].append(line)
        return out

    @property
    def truth(self) -> Truth:
        """Ground truth of the whole corpus (generates it once if not yet iterated)."""
        if self._truth is None:
            for _ in self.iter_tagged():
                pass
        return self._truth

    @property
    def expected(self) -> list[Expected]:
        """What the detection pack must report on this corpus (``attacks``, ``workday``; empty for
        the others).  Exact for a corpus of one message version; with several, only the records
        every version of it shows the same way."""
        if self._expected is None:
            for _ in self.iter_tagged():
                pass
        versions = self.spec.versions
        return [e for e in self._expected if e.since <= min(versions) and max(versions) <= e.until]

    def write(self, path: str | os.PathLike, *, compresslevel: int = 6) -> Truth:
        """Write to ``path`` (gzip if it ends in .gz, stdout if "-").  A ``{client}`` in the
        path writes one file per client.  gzip output has mtime 0, so it is reproducible."""
        path = os.fspath(path)
        if "{client}" in path:
            files = {c: _Out(path.format(client=c), compresslevel) for c in self.spec.clients}
            try:
                for c, line in self.iter_tagged():
                    files[c].write(line)
            finally:
                for f in files.values():
                    f.close()
        else:
            f = _Out(path, compresslevel)
            try:
                for _, line in self.iter_tagged():
                    f.write(line)
            finally:
                f.close()
        return self.truth


class _Out:
    """A binary sink: a file, stdout, or a gzip member with mtime 0 (reproducible bytes).

    Lines are gathered into 1 MiB chunks; gzip compresses them on a thread of its
    own (zlib releases the GIL), so compression overlaps generation.
    """

    CHUNK = 1 << 20

    def __init__(self, path: str, compresslevel: int):
        self.raw = sys.stdout.buffer if path == "-" else open(path, "wb")
        self.parts: list[bytes] = []
        self.size = 0
        self.gz = self.queue = self.thread = self.error = None
        if path.endswith(".gz"):
            self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, compresslevel=compresslevel, mtime=0)
            self.queue = queue.Queue(maxsize=8)
            self.thread = threading.Thread(target=self._compress, name="corpus-gzip", daemon=True)
            self.thread.start()

    def write(self, line: bytes) -> None:
        self.parts.append(line)
        self.size += len(line)
        if self.size >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self.parts:
            return
        chunk = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        if self.queue is not None:
            if self.error is not None:
                raise self.error
            self.queue.put(chunk)
        else:
            self.raw.write(chunk)

    def _compress(self) -> None:
        while True:
            chunk = self.queue.get()
            if chunk is None:
                return
            if self.error is None:
                try:
                    self.gz.write(chunk)
                except BaseException as e:  # reported by the next write or close
                    self.error = e

    def close(self) -> None:
        try:
            self._flush()
        finally:
            if self.thread is not None:
                self.queue.put(None)
                self.thread.join()
                self.gz.close()
            if self.raw is sys.stdout.buffer:
                self.raw.flush()
            else:
                self.raw.close()
        if self.error is not None:
            raise self.error


def write(path: str | os.PathLike, scenario: str = "demo", *, compresslevel: int = 6, **options) -> Truth:
    """Generate and write a corpus in one go (see :func:`generate` for the options)."""
    return generate(scenario, **options).write(path, compresslevel=compresslevel)
