"""ES clients, their sequence numbers, injected faults, and the ground truth.

Each client is a named group of event types with its own ``seq_num`` per event type
and its own ``global_seq_num``, both from 0 (as in Mac Monitor's fixtures; Santa's `Metrics.mm` counts gaps in
both).  Messages are
numbered first, then faults are applied to the numbered stream, exactly as the
kernel drops from a client's queue:

* a **gap** drops a run of messages.  Drops are placed where the numbers can reveal
  them: never before the first message of a (client, type), and only when a later
  message of that (client, type) survives, so per-type and global recounts both see
  every dropped message.
* a **repeat** re-emits the client's previous message (same numbers, new key order):
  a regression per type and globally, which moves no counter's baseline.
* **garbage** lines: bad JSON and invalid UTF-8 (corrupted copies of the client's
  previous line, so skipping them changes no count), non-objects, messages of an
  unknown future event type (valid and numbered like any other), and a truncated
  last line without a newline (as eslogger leaves when killed).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from osq_esf.corpus.render import Envelopes
from osq_esf.corpus.userspace import USERSPACE_EVENTS
from osq_esf.corpus.world import NUMBER, SHORT, Mac

ALL_TYPES = None  # a client subscribed to every type


def _default_clients() -> dict[str, tuple[str, ...]]:
    """Every NOTIFY type in one of five clients: process, memory, device and system, the events
    daemons report (security), and file for all the rest."""
    groups = {
        "process": ("exec", "fork", "exit", "signal", "get_task", "get_task_read", "get_task_inspect",
                    "get_task_name", "trace", "remote_thread_create", "proc_suspend_resume", "proc_check",
                    "cs_invalidated", "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid"),
        "memory": ("mmap", "mprotect"),
        "device": ("iokit_open", "mount", "unmount", "remount", "kextload", "kextunload", "pty_grant", "pty_close",
                   "settime"),
        "security": tuple(e for e in USERSPACE_EVENTS if not e.startswith("file_provider_")) + ("xpc_connect",),
    }
    taken = {t for types in groups.values() for t in types}
    return {"process": groups["process"], "file": tuple(t for t in SHORT.values() if t not in taken),
            "memory": groups["memory"], "device": groups["device"], "security": groups["security"]}


DEFAULT_CLIENTS: dict[str, tuple[str, ...]] = _default_clients()
SINGLE_CLIENT = "eslogger"
GARBAGE_KINDS = ("bad_json", "non_object", "invalid_utf8", "unknown_event", "truncated")
NON_OBJECTS = (b"[]", b'"eslogger"', b"42", b"null", b'["not","an","object"]', b"true")
UNKNOWN_EVENT_TYPES = (200, 255)  # far above 147; the body's key is "future_thing"
LOOKAHEAD = 4096  # numbered entries held back so a drop can see a later message of its type
MEAN_RUN = 2.0  # gaps come in short bursts


def short_name(event_type: int) -> str:
    """eslogger's name, or ``unknown(N)`` (the decoder's name for types it does not know)."""
    return SHORT.get(event_type) or f"unknown({event_type})"


@dataclass
class Truth:
    """What was really emitted, per client; compare with the extension's accounting.

    Keys of the per-type dicts are eslogger short names (``open``, ``unknown(200)``).
    ``lost`` and ``lost_global`` count dropped messages (every one detectable from the
    surviving numbers); ``regressions`` count re-emitted numbers; ``messages`` counts
    lines that are valid messages (repeats included); ``garbage`` counts injected
    lines by kind (``unknown_event`` lines are valid messages and also in ``messages``).
    """

    clients: dict[str, tuple[str, ...] | None]
    lines: dict[str, int] = field(default_factory=dict)
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    lost: dict[str, dict[str, int]] = field(default_factory=dict)
    lost_global: dict[str, int] = field(default_factory=dict)
    regressions: dict[str, dict[str, int]] = field(default_factory=dict)
    regressions_global: dict[str, int] = field(default_factory=dict)
    garbage: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self):
        for c in self.clients:
            for d in (self.lines, self.lost_global, self.regressions_global):
                d.setdefault(c, 0)
            for d in (self.messages, self.lost, self.regressions, self.garbage):
                d.setdefault(c, {})

    @property
    def total_lost(self) -> int:
        return sum(self.lost_global.values())

    @property
    def decode_errors(self) -> int:
        """Lines a strict decoder must reject (every garbage kind but unknown_event)."""
        return sum(n for g in self.garbage.values() for k, n in g.items() if k != "unknown_event")

    def as_dict(self) -> dict:
        return {
            "clients": {c: list(t) if t is not None else None for c, t in self.clients.items()},
            "lines": self.lines, "messages": self.messages, "lost": self.lost, "lost_global": self.lost_global,
            "regressions": self.regressions, "regressions_global": self.regressions_global,
            "garbage": self.garbage, "total_lost": self.total_lost, "decode_errors": self.decode_errors,
        }


def parse_clients(clients) -> dict[str, tuple[str, ...] | None]:
    """None -> one client with every type; "default"; {name: types}; or "a=exec,fork;b=open"."""
    if clients is None:
        return {SINGLE_CLIENT: ALL_TYPES}
    if clients == "default":
        return dict(DEFAULT_CLIENTS)
    if isinstance(clients, str):
        parsed = {}
        for part in filter(None, (p.strip() for p in clients.replace(" ", ";").split(";"))):
            name, sep, types = part.partition("=")
            if not sep or not name:
                raise ValueError(f"client {part!r}: write name=type,type")
            parsed[name] = tuple(t for t in types.split(",") if t)
        clients = parsed
    out = {}
    for name, types in dict(clients).items():
        if types is None:
            out[str(name)] = ALL_TYPES
            continue
        types = (types,) if isinstance(types, str) else tuple(types)
        bad = [t for t in types if t not in NUMBER]
        if bad:
            raise ValueError(f"client {name}: unknown event types {bad} (known: {', '.join(sorted(NUMBER))})")
        out[str(name)] = types
    if not out:
        raise ValueError("no clients")
    return out


def per_client(value, clients, what: str) -> dict[str, int]:
    """An int for every client, or a {client: int} mapping."""
    if not value:
        return {c: 0 for c in clients}
    if isinstance(value, dict):
        unknown = set(value) - set(clients)
        if unknown:
            raise ValueError(f"{what}: unknown clients {sorted(unknown)}")
        return {c: int(value.get(c, 0)) for c in clients}
    return {c: int(value) for c in clients}


def parse_garbage(garbage) -> dict[str, int]:
    """An int N (one truncated last line, the rest spread over the other kinds) or {kind: n}."""
    if not garbage:
        return {}
    if isinstance(garbage, dict):
        bad = set(garbage) - set(GARBAGE_KINDS)
        if bad:
            raise ValueError(f"garbage: unknown kinds {sorted(bad)} (known: {', '.join(GARBAGE_KINDS)})")
        if garbage.get("truncated", 0) > 1:
            raise ValueError("garbage: only the last line can be truncated")
        return {k: int(n) for k, n in garbage.items() if n}
    n = int(garbage)
    out = {"truncated": 1}
    kinds = GARBAGE_KINDS[:-1]
    for i in range(n - 1):
        out[kinds[i % len(kinds)]] = out.get(kinds[i % len(kinds)], 0) + 1
    return out


class Streams:
    """Numbers a Mac's messages per client, applies faults, renders lines; fills a Truth.

    Iterate :meth:`run` for ``(client, line)`` pairs in message order.
    """

    def __init__(self, mac: Mac, clients: dict, *, seed: int, expected: int, gaps: dict[str, int],
                 repeats: dict[str, int], garbage: dict[str, int], crlf: bool, envelopes: Envelopes):
        self.mac = mac
        self.clients = clients
        self.names = list(clients)
        self.subs: dict[int, tuple[str, ...]] = {}
        for et in SHORT:
            self.subs[et] = tuple(c for c, types in clients.items() if types is None or SHORT[et] in types)
        self.rng = random.Random(f"faults:{seed}")
        self.expected = max(1, expected)
        self.gaps_left = dict(gaps)
        self.repeats_left = dict(repeats)
        self.garbage_left = {k: n for k, n in garbage.items() if k not in ("truncated", "unknown_event")}
        self.unknown_left = garbage.get("unknown_event", 0)
        self.truncate = garbage.get("truncated", 0) > 0
        self.eol = b"\r\n" if crlf else b"\n"
        self.env = envelopes
        self.truth = Truth(dict(clients))
        self.seq: dict[tuple[str, int], int] = {}
        self.gseq = {c: 0 for c in clients}
        self.msgs_in = 0  # messages fanned out so far
        self.entries_in = {c: 0 for c in clients}
        self.entries_out = {c: 0 for c in clients}
        self.pending: dict[tuple[str, int], int] = {}
        self.buffered = 0
        self.seen: set[tuple[str, int]] = set()
        self.run_left = {c: 0 for c in clients}
        self.last: dict[str, tuple] = {}  # client -> (entry, line) last emitted
        self.faulty = any(gaps.values()) or any(repeats.values()) or bool(garbage)

    # -- numbering ----------------------------------------------------------------------------

    def number(self, client: str, msg: tuple) -> tuple:
        key = (client, msg[0])
        seq = self.seq.get(key, 0)
        self.seq[key] = seq + 1
        g = self.gseq[client]
        self.gseq[client] = g + 1
        self.entries_in[client] += 1
        return (client, msg, seq, g)

    def render(self, entry: tuple) -> bytes:
        _, (et, t_ns, mach, tid, v, proc, event), seq, g = entry
        return self.env.line(v, et, t_ns, mach, seq, g, tid, proc, event) + self.eol

    # -- the pass ------------------------------------------------------------------------------

    def run(self, steps):
        """Drive the scenario ``steps`` and yield ``(client, line)``."""
        out = self.mac.out
        subs = self.subs
        if not self.faulty:
            truth_msgs, truth_lines = self.truth.messages, self.truth.lines
            for _ in steps:
                for msg in out:
                    for c in subs[msg[0]]:
                        line = self.render(self.number(c, msg))
                        counts = truth_msgs[c]
                        short = SHORT[msg[0]]
                        counts[short] = counts.get(short, 0) + 1
                        truth_lines[c] += 1
                        yield c, line
                out.clear()
            return
        buf: deque = deque()
        for _ in steps:
            for msg in out:
                self.msgs_in += 1
                for c in subs[msg[0]]:
                    self._push(buf, self.number(c, msg))
                if self.unknown_left and self._chance(self.unknown_left, self.expected - self.msgs_in):
                    self.unknown_left -= 1
                    self._push(buf, self.number(self.rng.choice(self.names), self._future()))
            out.clear()
            while len(buf) > LOOKAHEAD:
                yield from self._release(buf.popleft())
        while self.unknown_left:  # whatever the spread did not place
            self.unknown_left -= 1
            self._push(buf, self.number(self.rng.choice(self.names), self._future()))
        while buf:
            yield from self._release(buf.popleft())
        for kind, n in list(self.garbage_left.items()):
            for _ in range(n):
                c = self.rng.choice([c for c in self.names if c in self.last] or self.names)
                yield from self._garbage(c, kind)
        if self.truncate and self.last:
            c = self.rng.choice(sorted(self.last))
            entry, _ = self.last[c]
            fresh = self.number(c, entry[1])  # the next message of that client, cut short
            line = self.render(fresh)
            cut = line[: max(1, int(len(line) * self.rng.uniform(0.3, 0.9)))].rstrip(b"\r\n")
            self._count_garbage(c, "truncated")
            yield c, cut

    def _push(self, buf: deque, entry: tuple) -> None:
        key = (entry[0], entry[1][0])
        self.pending[key] = self.pending.get(key, 0) + 1
        self.buffered += 1
        buf.append(entry)

    def _future(self) -> tuple:
        mac = self.mac
        procs = [p for p in mac.procs.values() if p.pid != 1] or [mac.launchd]
        proc = procs[self.rng.randrange(len(procs))]
        return mac.future_message(proc, self.rng.choice(UNKNOWN_EVENT_TYPES), "/private/var/db/future/thing.db")

    def _chance(self, left: int, remaining: float) -> bool:
        return self.rng.random() * max(1.0, remaining) < left

    def _release(self, entry: tuple):
        c, msg = entry[0], entry[1]
        key = (c, msg[0])
        self.pending[key] -= 1
        self.buffered -= 1
        self.entries_out[c] += 1
        short = short_name(msg[0])
        known = msg[0] in SHORT  # injected unknown-type messages are never dropped or repeated
        truth = self.truth
        if known and self._drop(c, key):
            truth.lost[c][short] = truth.lost[c].get(short, 0) + 1
            truth.lost_global[c] += 1
            return
        self.seen.add(key)
        line = self.render(entry)
        truth.messages[c][short] = truth.messages[c].get(short, 0) + 1
        truth.lines[c] += 1
        self.last[c] = (entry, line)
        yield c, line
        if not known:
            truth.garbage[c]["unknown_event"] = truth.garbage[c].get("unknown_event", 0) + 1
            return
        left = self.repeats_left[c]
        if left and self._chance(left, self._remaining(c)):
            self.repeats_left[c] -= 1
            truth.regressions[c][short] = truth.regressions[c].get(short, 0) + 1
            truth.regressions_global[c] += 1
            truth.messages[c][short] += 1
            truth.lines[c] += 1
            yield c, self.render(entry)  # same numbers; another key order
        n_garbage = sum(self.garbage_left.values())
        if n_garbage and self._chance(n_garbage, self.expected - self.msgs_in + self.buffered):
            kinds = [k for k, n in self.garbage_left.items() if n]
            yield from self._garbage(c, self.rng.choice(kinds))

    def _remaining(self, c: str) -> float:
        """Entries of client ``c`` still to come, estimated from its share so far."""
        share = self.entries_in[c] / max(1, self.msgs_in)
        return self.expected * share - self.entries_out[c]

    def _drop(self, c: str, key: tuple) -> bool:
        # Detectable only after a survivor of this (client, type) and before another one.
        if key not in self.seen or self.pending[key] < 1:
            self.run_left[c] = 0
            return False
        if self.run_left[c] > 0:
            self.run_left[c] -= 1
            self.gaps_left[c] -= 1
            return True
        left = self.gaps_left[c]
        if left and self.rng.random() * max(1.0, self._remaining(c)) < left / MEAN_RUN:
            self.gaps_left[c] -= 1
            self.run_left[c] = min(self.rng.randint(0, 3), self.gaps_left[c])
            return True
        return False

    def _garbage(self, c: str, kind: str):
        self.garbage_left[kind] -= 1
        last = self.last.get(c)
        base = last[1] if last else b'{"schema_version":1,"path":"\\/private\\/tmp\\/x"}' + self.eol
        body = base.rstrip(b"\r\n")
        rng = self.rng
        if kind == "bad_json":
            how = rng.randrange(3)
            if how == 0:  # cut mid-line, as a partial write would
                bad = body[: rng.randint(1, len(body) - 2)]
            elif how == 1:  # lost closing brace
                bad = body[:-1]
            else:  # trailing comma
                bad = body[:-1] + b",}"
        elif kind == "invalid_utf8":
            at = body.find(b'"path":"')
            at = at + 8 if at >= 0 else len(body) // 2
            bad = body[:at] + rng.choice((b"\xff\xfe", b"\xc3\x28", b"\xf8\x88\x80\x80\x80", b"\x80")) + body[at:]
        else:
            bad = rng.choice(NON_OBJECTS)
        self._count_garbage(c, kind)
        yield c, bad + self.eol

    def _count_garbage(self, c: str, kind: str) -> None:
        g = self.truth.garbage[c]
        g[kind] = g.get(kind, 0) + 1
        self.truth.lines[c] += 1
