"""``make fuzz`` (``python -m bench.reliability``): the reliability campaigns of issue 10.

* fuzz: a mutation fuzzer (bytes, JSON structure, splices) over generated lines of every one
  of the 104 typed tables (the corpus's ``types`` scenario, every message version and token
  form), the ``bench`` and ``demo`` mixes, and the real eslogger captures and hand-made fixtures
  of the data folder beside the checkout when present (read in place, never copied); then
  hypothesis over arbitrary bytes
  and over JSON-shaped messages.  All through ``Pipeline.ingest`` as ``osq-esf run`` wires it
  (default 64 MiB ring budget): crashes (an exception escaping ingest), hangs (a batch over
  2 s), line conservation, es_health's identity, values past 64 bits, RSS over the run;
* redaction: every corpus form with random secrets, directly and through the pipeline in
  es_exec, es_sudo and es_su (leaks), and every look-alike (false positives);
* socket: idle, slow, non-reading and concurrent clients against a running extension, with
  ping latency against the same extension idle, threads, fds and RSS; then ping latency
  while the extension ingests execs with a 300,000-character argument, against ordinary
  execs and against idle, in the same run;
* lifecycle: eslogger children killed again and again (the test double), osquery crashes
  and graceful stops under ``--standalone``, kill -9 of the extension and a new start
  (stale socket removed), with fds, threads and zombies before and after.

Writes bench/results/reliability.json and docs/reliability.md (``--quick``: tiny sizes,
written only where ``--out`` points).  Figures only; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from bench import common

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FULL = {"fuzz": 1_000_000, "hypothesis": 5_000, "secrets": 20, "events": 20_000, "idle": 500, "slow": 50,
        "nonreading": 50, "concurrent": 50, "hold": 5.0, "window": 2.0, "rounds": 3, "restarts": 5, "kills": 3,
        "eslogger_kills": 20, "settle": 1.0}
QUICK = {"fuzz": 3_000, "hypothesis": 50, "secrets": 2, "events": 1_000, "idle": 5, "slow": 2, "nonreading": 2,
         "concurrent": 2, "hold": 0.5, "window": 0.5, "rounds": 1, "restarts": 1, "kills": 1, "eslogger_kills": 2,
         "settle": 0.2}
HANG = 2.0  # seconds: a batch of 512 lines slower than this is a hang
PATHOLOGICAL = 300_000  # characters of the argument that stalled pings before issue 10
INT64 = (-(2**63), 2**63 - 1)


def _percentiles(xs: list) -> dict:
    """p50, p99 and max of seconds, in milliseconds."""
    xs = sorted(xs)

    def at(q):
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 2) if xs else None

    return {"n": len(xs), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


# -- fuzz ---------------------------------------------------------------------------------------

def _seeds() -> tuple[list[bytes], dict]:
    """Seed lines and where they come from: the corpus generator, then the data folder beside the
    checkout when it is there (its real captures are GPL: read in place, never copied)."""
    from osq_esf.corpus import generate

    generated = []
    for seed, (version, form) in enumerate([(11, "object"), (11, "array"), ("mixed", "mixed"), (4, "object")]):
        generated += generate("types", seed=seed, version=version, token_form=form)
    generated += generate("bench", events=3000, seed=5, version="mixed", token_form="mixed")
    generated += generate("demo", seed=6)
    real, fixtures = [], []
    for path in sorted(SHARED_DATA.glob("real-captures/*.json")):  # GPL: read in place, never copied
        text = path.read_bytes().strip()
        real.append(text if b"\n" not in text else json.dumps(json.loads(text)).encode())
    for path in sorted(SHARED_DATA.glob("mac-monitor/*.jsonl")):
        fixtures += [ln for ln in path.read_bytes().splitlines() if ln.strip()]
    lines = [ln.rstrip(b"\r\n") for ln in generated + real + fixtures if ln.strip()]
    types = set()
    for ln in generated:
        try:
            types.update(json.loads(ln).get("event", {}))
        except ValueError:
            pass
    return lines, {"generated": len(generated), "real_captures": len(real), "fixtures": len(fixtures),
                   "event_types": len(types)}


# Values a structural mutation puts in place of one: wrong types, edges of every width, odd text.
ODD_VALUES = (None, True, False, 0, -1, 1, 2**31, 2**32, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30,
              1.5, -0.0, 1e308, "", "x", "A" * 5000, "\u0000", "\ud800", "é/\u202e", "2026-10-04T00:00:00Z",
              "not a time", "/" * 2000, "--password=hunter2", [], {}, [[]], {"a": 1}, ["x", 1, None],
              "9" * 40, [[[[[[[[[[]]]]]]]]]])
DEEP = [0]
for _ in range(900):  # near msgspec's nesting limit
    DEEP = [DEEP]


class Mutator:
    """Three kinds of mutation of seed lines; ``next()`` is one line to try."""

    def __init__(self, seeds: list[bytes], rng: random.Random):
        self.rng, self.seeds = rng, seeds
        self.docs, self.paths = [], []
        for s in seeds:
            try:
                doc = json.loads(s)
            except ValueError:
                continue
            if isinstance(doc, dict):
                self.docs.append(doc)
                self.paths.append(list(_paths(doc)))
        self.numbers = sorted({d.get("event_type") for d in self.docs if isinstance(d.get("event_type"), int)})

    def next(self, k: int) -> bytes:
        r = k % 20
        if r < 2:
            return self.rng.choice(self.seeds)  # unmutated: the pipeline keeps accepting good lines
        if r < 10:
            return self.bytes(self.rng.choice(self.seeds))
        if r < 19:
            return self.structure()
        a, b = self.rng.choice(self.seeds), self.rng.choice(self.seeds)
        return a[: self.rng.randrange(len(a) + 1)] + b[self.rng.randrange(len(b) + 1):]

    def bytes(self, line: bytes) -> bytes:
        rng, b = self.rng, bytearray(line)
        for _ in range(rng.randint(1, 3)):
            op, i = rng.randrange(8), rng.randrange(len(b) + 1)
            if op == 0 and b:
                b[min(i, len(b) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                b[i:i] = os.urandom(rng.randint(1, 8))
            elif op == 2:
                del b[i:i + rng.randint(1, 16)]
            elif op == 3:
                b = b[:i]
            elif op == 4:
                j = rng.randrange(len(b) + 1)
                b[i:i] = b[j:j + rng.randint(1, 64)]
            elif op == 5:
                b[i:i] = str(rng.choice([2**64, -2**63 - 1, 10**30, 2**63])).encode()
            elif op == 6:
                b[i:i] = rng.choice([b'"', b"{", b"}", b"[", b"]", b",", b":", b"null", b"\\u0000", b"\xff\xfe"])
            else:
                b[i:i] = rng.choice([b'"--password=hunter2"', b'"a"' * 50, b"9" * 40])
        return bytes(b)

    def structure(self) -> bytes:
        """A seed with one value replaced, one key removed, or its event type swapped."""
        rng = self.rng
        k = rng.randrange(len(self.docs))
        doc, paths = self.docs[k], self.paths[k]
        op = rng.randrange(10)
        if op == 0 and self.numbers:  # a body of one type under another type's number
            path, value = ("event_type",), rng.choice(self.numbers + [rng.randrange(300)])
        else:
            path = rng.choice(paths)
            value = DEEP if op == 1 else rng.choice(ODD_VALUES)
        node = doc
        for key in path[:-1]:
            node = node[key]
        key = path[-1]
        old = node[key]
        if op == 2 and isinstance(node, dict):
            del node[key]
        else:
            node[key] = value
        try:
            return json.dumps(doc).encode()
        finally:
            node[key] = old


def _paths(node, path=()):
    """The path of every value below ``node`` (decoded JSON)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, v in items:
        yield path + (key,)
        yield from _paths(v, path + (key,))


def _pipeline():
    """The pipeline exactly as ``osq-esf run`` wires it with no config (64 MiB budget), sources unstarted."""
    from osq_esf.app import App

    args = argparse.Namespace(source=["replay:/dev/null"], config=None, speed=0.0)
    return App.from_args(args).pipeline


def fuzz(n: int, hyp: int) -> dict:
    seeds, origin = _seeds()
    pipeline = _pipeline()
    st = pipeline.add_source("fuzz", "replay")
    mutator = Mutator(seeds, random.Random(10))
    crashes, hangs, fed, worst = [], 0, 0, 0.0
    rss = {"start_mb": _mb(common.rss_bytes())}
    marks = {n // 10: "at_10pct_mb", n // 2: "at_50pct_mb"}

    def run(batch):
        nonlocal hangs, worst, fed
        t0 = time.perf_counter()
        try:
            pipeline.ingest(st, batch)
        except Exception as e:  # counted, not raised: the campaign reports
            crashes.append(_crash(e, batch))
        dt = time.perf_counter() - t0
        worst = max(worst, dt)
        hangs += dt > HANG
        fed += len(batch)

    t0 = time.perf_counter()
    batch, peak = [], common.rss_bytes()
    for k in range(n):
        batch.append(mutator.next(k))
        if len(batch) == 512:
            run(batch)
            batch = []
            if k % 25_600 < 512:
                peak = max(peak, common.rss_bytes())
        if k in marks:
            rss[marks[k]] = _mb(common.rss_bytes())
    if batch:
        run(batch)
    mutation_s = time.perf_counter() - t0
    peak = max(peak, common.rss_bytes())
    hyp_out = _hypothesis(pipeline, st, hyp, mutator)
    crashes += hyp_out.pop("crashes")
    peak = max(peak, common.rss_bytes())
    rss.update(end_mb=_mb(common.rss_bytes()), max_mb=_mb(peak), budget_mb=_mb(pipeline.budget.limit),
               rings_mb=_mb(pipeline.budget.used))
    health = pipeline.health.rows(pipeline)
    identity = all(r["received"] == r["buffered"] + r["evicted"] + r["muted"] + r["filtered"] + r["decode_errors"]
                   for r in health)
    return {"lines": fed, "seed_lines": len(seeds), "seeds": origin, "mutation_seconds": round(mutation_s, 1),
            **hyp_out, "crashes": len(crashes), "crash_samples": crashes[:5], "hangs_over_2s": hangs,
            "slowest_batch_s": round(worst, 3), "rss": rss, "decode_errors": st.decode_errors, "events": st.events,
            "lines_counted": st.lines, "conserved": st.lines == fed + hyp_out["hypothesis_examples"],
            "health_identity": identity, "values_past_64_bits": _wide_values(pipeline, health)}


def _crash(e: BaseException, batch: list) -> dict:
    return {"error": f"{type(e).__name__}: {e}"[:300], "where": traceback.format_exc().strip().splitlines()[-3][:200],
            "batch_head": [ln[:120].decode("utf-8", "replace") for ln in batch[:2]]}


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


def _hypothesis(pipeline, st, examples: int, mutator: Mutator) -> dict:
    """Arbitrary bytes, then JSON-shaped messages (known event numbers, any bodies), one line each."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as hst

    crashes: list = []
    half = max(1, examples // 2)
    config = settings(max_examples=half, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))

    def feed(line: bytes) -> None:
        try:
            pipeline.ingest(st, [line])
        except Exception as e:
            crashes.append(_crash(e, [line]))

    @config
    @given(hst.binary(max_size=1024))
    def any_bytes(data):
        feed(data)

    leaves = hst.none() | hst.booleans() | hst.integers() | hst.floats(allow_nan=False) | hst.text(max_size=40)
    values = hst.recursive(leaves, lambda c: hst.lists(c, max_size=4) | hst.dictionaries(hst.text(max_size=12), c,
                                                                                           max_size=4), max_leaves=12)
    shorts = sorted({short for d in mutator.docs for short in d.get("event", {})})
    processes = [d["process"] for d in mutator.docs[:50] if "process" in d]
    message = hst.fixed_dictionaries({
        "event_type": hst.sampled_from(mutator.numbers) | hst.integers(),
        "time": hst.sampled_from(["2026-10-04T00:00:00.000000001Z", "2026-10-04T00:00:00Z"]) | hst.text(max_size=30),
        "version": hst.integers(0, 12) | values,
        "process": hst.sampled_from(processes) | values,
        "event": hst.dictionaries(hst.sampled_from(shorts), hst.dictionaries(hst.text(max_size=20), values, max_size=6)
                                  | values, max_size=2),
    }, optional={"seq_num": hst.integers() | values, "global_seq_num": hst.integers(), "mach_time": hst.integers(),
                 "thread": hst.fixed_dictionaries({"thread_id": hst.integers()}) | values})

    @config
    @given(message)
    def shaped(m):
        feed(json.dumps(m).encode())

    any_bytes()
    shaped()
    return {"hypothesis_examples": 2 * half, "crashes": crashes}


def _wide_values(pipeline, health) -> int:
    """Values past 64 bits anywhere a client can read: es_health and every table's encoded rows."""
    from osq_esf.extension.constraints import plan_from_context
    from osq_esf.extension.tables import EventTable
    from tests.test_protocol import decode_rows

    bad = sum(1 for r in health for v in r.values() if isinstance(v, int) and not INT64[0] <= v <= INT64[1])
    for name, layout in pipeline.layouts.items():
        numeric = [c.name for c in layout.spec.columns if c.numeric]  # text may hold any digits
        count, chunks = EventTable(layout, pipeline.rings[name]).generate(plan_from_context(""))
        for row in decode_rows(count, b"".join(chunks)):
            for c in numeric:
                v = row.get(c)
                if v and not INT64[0] <= int(v) <= INT64[1]:
                    bad += 1
    return bad


# -- redaction --------------------------------------------------------------------------------------

def redaction(per_form: int) -> dict:
    """Every form with random secrets: through the redactor, and as es_exec, es_sudo and es_su
    events through the pipeline and the reply encoder."""
    from bench.redaction_corpus import FORMS, LOOKALIKES
    from osq_esf.rules.redact import redact_argv, redact_env
    from tests import eslines
    from tests.pipelines import make_pipeline, table_rows

    rng = random.Random(3)
    tried = leaks = 0
    leaked: set = set()
    per_table = {"es_exec": 0, "es_sudo": 0, "es_su": 0}
    p, src = make_pipeline("")
    cases = []
    for cat, argv, env, s in FORMS:
        for _ in range(per_form):
            secret = "Qz" + "".join(rng.choice("abcXYZ0189_+/=.~") for _ in range(rng.randint(6, 24))) + "Qz"
            a = [x.replace(s, secret) for x in argv]
            e = [x.replace(s, secret) for x in env]
            tried += 1
            if any(secret in x for x in redact_argv(a) + redact_env(e)):
                leaks += 1
                leaked.add(cat)
            k = len(cases)  # seq_num counts per type, global_seq_num per client
            lines = [eslines.line("exec", {"args": a, "env": e}, seq=k, gseq=3 * k),
                     eslines.line("sudo", {"command": " ".join(e + a)}, seq=k, gseq=3 * k + 1),
                     eslines.line("su", {"argv": a, "env": e, "argc": len(a), "env_count": len(e)}, seq=k,
                                  gseq=3 * k + 2)]
            cases.append((cat, secret))
            p.ingest(src, lines)
    rows = {t: table_rows(p, t) for t in per_table}
    columns = {"es_exec": ("cmdline", "env"), "es_sudo": ("command",), "es_su": ("argv", "env")}
    for t, cols in columns.items():
        for (cat, secret), row in zip(cases, rows[t]):
            if any(secret in (row[c] or "") for c in cols):
                per_table[t] += 1
                leaked.add(cat)
    fps = sum(redact_argv(a) != a or redact_env(e) != e for a, e in LOOKALIKES)
    q, qsrc = make_pipeline("")
    q.ingest(qsrc, [eslines.line("su", {"argv": a, "env": e, "argc": len(a), "env_count": len(e)}, seq=k)
                    for k, (a, e) in enumerate(LOOKALIKES)])
    fps_pipeline = sum("<redacted:" in (r["argv"] or "") + (r["env"] or "") for r in table_rows(q, "es_su"))
    return {"forms": len(FORMS), "categories": len({c for c, *_ in FORMS}), "tried": tried, "leaks": leaks,
            "pipeline_events": 3 * len(cases), "pipeline_leaks": per_table, "decode_errors": src.decode_errors,
            "leaked_categories": sorted(leaked), "lookalikes": len(LOOKALIKES), "false_positives": fps,
            "false_positives_in_es_su": fps_pipeline}


# -- socket abuse ---------------------------------------------------------------------------------

def _proc_status(pid: int) -> dict:
    out = {"threads": 0, "fds": 0, "rss_mb": 0.0, "zombies": _zombies(pid)}
    try:
        for ln in open(f"/proc/{pid}/status"):
            if ln.startswith("Threads:"):
                out["threads"] = int(ln.split()[1])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        out["rss_mb"] = _mb(common.rss_bytes(pid))
    except OSError:
        pass
    return out


def _settled_status(pid: int, samples: int = 10) -> dict:
    """The process's status with the pinger's own connection left out: the fewest threads and fds
    over ``samples`` reads 50 ms apart (a ping in flight holds one of each for a moment; a leak
    holds it in every read)."""
    reads = []
    for _ in range(samples):
        reads.append(_proc_status(pid))
        time.sleep(0.05)
    return {**reads[-1], "threads": min(r["threads"] for r in reads), "fds": min(r["fds"] for r in reads)}


def _zombies(pid) -> int:
    """Children of ``pid`` that exited and were never reaped."""
    n = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            for child in open(f"/proc/{pid}/task/{task}/children").read().split():
                if open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                    n += 1
        except OSError:
            pass
    return n


class Extension:
    """``osq-esf run --source replay:-`` registered with tests/idl_peer.IdlManager; its standard
    input stays open, so lines can be fed at any time."""

    def __init__(self, lines):
        from tests.idl_peer import IdlManager

        self.dir = tempfile.mkdtemp(prefix="osqrel")
        self.socket = os.path.join(self.dir, "em")
        self.manager = IdlManager(self.socket).start()
        self.proc = subprocess.Popen(  # no config: the default rings and their 64 MiB budget
            [sys.executable, "-m", "osq_esf", "run", "--socket", self.socket, "--timeout", "10", "--interval", "5",
             "--source", "replay:-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self.manager.handler.registered.wait(60):
            self.close()
            raise RuntimeError("the extension did not register")
        self.path = f"{self.socket}.{max(self.manager.handler.infos)}"
        _wait(lambda: os.path.exists(self.path), 10)
        self.fed = 0
        self.feed(list(lines))

    def feed(self, lines: list, wait: bool = True) -> None:
        """Write lines to the extension's standard input (the pipe pushes back when it lags)."""
        for ln in lines:
            self.proc.stdin.write(ln if ln.endswith(b"\n") else ln + b"\n")
        self.proc.stdin.flush()
        self.fed += len(lines)
        if wait:
            self.wait_ingested()

    def wait_ingested(self) -> None:
        _wait(lambda: self.lines() >= self.fed, 600)

    def lines(self) -> int:
        buf, _ = common.raw_call(self.path, "es_sources", {"action": "generate", "context": "{}"})
        return sum(int(r["lines"]) for r in common.decode_reply(buf).response)

    def close(self) -> None:
        from tests.idl_peer import stop_child

        if self.proc.stdin:
            self.proc.stdin.close()
        stop_child(self.proc)
        self.manager.stop()


_wait = common.RunningExtension._wait_for  # poll ``cond`` until true, or TimeoutError


class Pinger:
    """Pings on a fresh connection every ``every`` seconds, as osquery does; each answer is checked."""

    def __init__(self, path: str, every: float = 0.01):
        self.path, self.every = path, every
        self.results: list[tuple[float, float | None]] = []  # (when, seconds or None when it failed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from osquery.extensions import Extension as Ext
        from thrift.protocol import TBinaryProtocol
        from thrift.transport import TTransport

        ping = common.encode_ping()
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                buf, dt = common.raw_exchange(self.path, ping, timeout=30)
                prot = TBinaryProtocol.TBinaryProtocolAccelerated(TTransport.TMemoryBuffer(buf))
                prot.readMessageBegin()
                result = Ext.ping_result()
                result.read(prot)
                ok = result.success is not None and result.success.code == 0
            except Exception:
                ok, dt = False, None
            self.results.append((t, dt if ok else None))
            self._stop.wait(self.every)

    def samples(self, since: float, until: float | None = None) -> list:
        """Seconds per ping sent in [since, until), None for a failed one."""
        return [dt for t, dt in self.results if t >= since and (until is None or t < until)]

    def window(self, since: float, until: float | None = None) -> dict:
        return _ping_stats(self.samples(since, until))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def _ping_stats(got: list) -> dict:
    return {**_percentiles([d for d in got if d is not None]), "failed": sum(d is None for d in got)}


def socket_abuse(sizes: dict) -> dict:
    """Four phases against one extension, pinged throughout: idle; idle and slow connections held;
    concurrent full scans on top of them; non-reading clients held; then everything closed."""
    from tests.rules_events import exec_line

    ext = Extension(common.lines(sizes["events"]))
    pinger = None
    held: list[socket.socket] = []
    try:
        pid, path = ext.proc.pid, ext.path
        before = _proc_status(pid)
        peak = dict(before)

        def hold(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for k, v in _proc_status(pid).items():
                    peak[k] = max(peak[k], v)
                time.sleep(0.1)

        pinger = Pinger(path)
        marks = {"idle": time.monotonic()}
        hold(sizes["window"])
        marks["held"] = time.monotonic()
        for _ in range(sizes["idle"]):  # connect and say nothing: the cap closes the longest idle
            held.append(_connect(path))
        call = common.encode_call("es_open", {"action": "generate", "context": "{}"})
        for _ in range(sizes["slow"]):  # half a request, then nothing
            c = _connect(path)
            c.sendall(call[: len(call) // 2])
            held.append(c)
        hold(sizes["hold"])
        marks["scans"] = time.monotonic()
        outcome = {"complete": 0, "busy": 0, "closed": 0}
        rows = set()

        def scan():
            try:
                buf, _ = common.raw_exchange(path, call, 120)
                reply = common.decode_reply(buf)
                kind = "complete" if reply.status.code == 0 else "busy" if "busy" in reply.status.message else "closed"
                if kind == "complete":
                    rows.add(len(reply.response))
            except Exception:  # closed by the connection cap or the io timeout
                kind = "closed"
            outcome[kind] += 1

        scans = [threading.Thread(target=scan) for _ in range(sizes["concurrent"])]
        for t in scans:
            t.start()
        while any(t.is_alive() for t in scans):
            hold(0.1)
        for t in scans:
            t.join()
        marks["nonreading"] = time.monotonic()
        for _ in range(sizes["nonreading"]):  # a full scan, never read: it holds a reply slot
            c = _connect(path)
            c.sendall(call)
            held.append(c)
        hold(sizes["hold"])
        marks["closed"] = time.monotonic()
        for c in held:
            c.close()
        held.clear()
        hold(2 * sizes["settle"])  # the threads of closed connections end
        after = _settled_status(pid)
        alive = ext.proc.poll() is None
        windows = {name: pinger.window(t, marks.get(nxt)) for name, t, nxt in (
            ("idle", marks["idle"], "held"), ("held", marks["held"], "scans"), ("scans", marks["scans"], "nonreading"),
            ("nonreading", marks["nonreading"], "closed"))}
        abuse = pinger.window(marks["held"], marks["closed"])
        # Ping latency while the extension ingests execs with a 300,000-character argument, against
        # ordinary execs and the idle extension: windows of the same length, taken in turn (so the
        # other work on the machine falls on all three alike), in this run.
        kinds = (("idle", None), ("ordinary", 10), ("pathological", PATHOLOGICAL))
        acc = {name: {"execs": 0, "seconds": 0.0, "pings": []} for name, _ in kinds}
        for _ in range(sizes["rounds"]):
            for name, width in kinds:
                t0 = time.monotonic()
                end = t0 + sizes["window"]
                if width is None:
                    time.sleep(sizes["window"])
                    acc[name]["pings"] += pinger.samples(t0, end)
                    continue
                # One template line, each exec made unique (no cache can spare the work) by its suffix.
                head, _, tail = exec_line(args=["/bin/echo", "key" + "a" * width + "@N@"]).partition(b"@N@")
                n = acc[name]["execs"]
                while time.monotonic() < end:  # as fast as the extension takes them
                    ext.feed([head + b"%d" % (n + i) + tail for i in range(8)], wait=False)
                    n += 8
                acc[name]["pings"] += pinger.samples(t0, end)
                ext.wait_ingested()
                acc[name]["seconds"] += time.monotonic() - t0
                acc[name]["execs"] = n
        execs = {}
        for name, width in kinds:
            a = acc[name]
            execs[name] = {"ping": _ping_stats(a["pings"])}
            if width is not None:
                execs[name].update(execs=a["execs"], argument_chars=width + 3,
                                   ingest_ms_per_exec=round(1000 * a["seconds"] / a["execs"], 3))
        return {"events": sizes["events"], "idle": sizes["idle"], "slow": sizes["slow"],
                "nonreading": sizes["nonreading"], "concurrent_scans": sizes["concurrent"], "ping": windows,
                "ping_idle": windows["idle"], "ping_abuse": abuse, "scans": outcome, "scan_rows": sorted(rows),
                "before": before, "peak": peak, "after": after, "extension_alive": alive, "exec_ingest": execs}
    finally:
        for c in held:
            c.close()
        if pinger is not None:
            pinger.stop()
        ext.close()


def _connect(path: str) -> socket.socket:
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    return c


# -- lifecycle --------------------------------------------------------------------------------------

def lifecycle(restarts: int, kills: int, eslogger_kills: int, settle: float = 1.0) -> dict:
    """``settle``: seconds to let threads and sockets wind down before a reading (scaled down by --quick)."""
    from tests.idl_peer import IdlManager, extension_client, stop_child

    d = tempfile.mkdtemp(prefix="osqlife")
    sock = os.path.join(d, "em")
    rec = os.path.join(d, "rec.jsonl")
    with open(rec, "wb") as f:
        f.writelines(common.lines(5_000))
    argv = [sys.executable, "-m", "osq_esf", "run", "--socket", sock, "--timeout", "10", "--interval", "0.3",
            "--standalone", "--source", f"replay:{rec}"]
    out = {"osquery_crashes": 0, "osquery_graceful": 0, "extension_kill9": 0, "reregistered": 0, "died": []}
    manager = IdlManager(sock).start()
    log = open(os.path.join(d, "stderr"), "wb")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)

    def registered(manager) -> bool:
        """Whether the extension registered again; a death is recorded (with its last words) instead."""
        deadline = time.monotonic() + 60
        while not manager.handler.registered.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = open(log.name, "rb").read()[-600:].decode("utf-8", "replace")
                out["died"].append(f"exit {proc.poll()}: {tail}")
                raise RuntimeError("the extension died or never registered")
        return True

    try:
        registered(manager)
        time.sleep(1.0 * settle)
        out["before"] = _proc_status(proc.pid)
        for _ in range(restarts):
            for graceful in (False, True):
                if graceful:  # osqueryd stopping cleanly tells its extensions to shut down
                    path = f"{sock}.{max(manager.handler.infos)}"
                    _wait(lambda: os.path.exists(path), 30)
                    client, trans = extension_client(path, 5)
                    try:
                        client.shutdown()
                    finally:
                        trans.close()
                manager.stop()
                time.sleep(0.5 * settle)
                manager = IdlManager(sock).start()
                out["reregistered"] += registered(manager)
                out["osquery_graceful" if graceful else "osquery_crashes"] += 1
        time.sleep(1.0 * settle)
        out["after_restarts"] = {**_proc_status(proc.pid), "alive": proc.poll() is None}
        for _ in range(kills):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            manager.handler.registered.clear()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
            out["reregistered"] += registered(manager)
            time.sleep(0.5 * settle)
            out["extension_kill9"] += 1
        live = {f"em.{u}" for u in manager.handler.infos}
        out["stale_sockets_left"] = sum(1 for n in os.listdir(d) if n.startswith("em.") and n not in live)
        out["after"] = {**_proc_status(proc.pid), "alive": proc.poll() is None}
    except RuntimeError:  # reported: the rest of the figures stay as far as they got
        out.setdefault("after_restarts", _proc_status(proc.pid))
        out.setdefault("stale_sockets_left", None)
        out["after"] = {**_proc_status(proc.pid), "alive": False}
    finally:
        stop_child(proc)
        manager.stop()
        log.close()
    out["eslogger"] = _eslogger_kills(eslogger_kills, settle)
    out["zombies_of_the_campaign"] = _zombies(os.getpid())
    return out


def _eslogger_kills(kills: int, settle: float) -> dict:
    """``osq-esf run --source eslogger`` over the test double: SIGKILL its child ``kills`` times."""
    from tests.idl_peer import IdlManager, stop_child

    d = tempfile.mkdtemp(prefix="osqesl")
    fake = str(ROOT / "tests" / "fakes" / "eslogger")
    state, inp = os.path.join(d, "state"), os.path.join(d, "in.jsonl")
    os.mkdir(state)
    with open(inp, "wb") as f:
        f.writelines(common.lines(300, only="exec"))
    cfg = os.path.join(d, "osq-esf.toml")
    with open(cfg, "w") as f:
        f.write(f'[clients]\nprocess = ["exec", "fork", "exit"]\n[eslogger]\nbinary = "{fake}"\n'
                'backoff_initial = 0.01\nbackoff_max = 0.05\n')
    os.chmod(cfg, 0o600)
    env = {**os.environ, "FAKE_ESLOGGER_STATE": state, "FAKE_ESLOGGER_INPUT": inp, "FAKE_ESLOGGER_LOOP": "1"}
    sock = os.path.join(d, "em")
    manager = IdlManager(sock).start()
    proc = subprocess.Popen([sys.executable, "-m", "osq_esf", "run", "--socket", sock, "--timeout", "10",
                             "--source", "eslogger", "--config", cfg], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pids():
        p = os.path.join(state, "pids")
        return [int(x) for x in open(p).read().split()] if os.path.exists(p) else []

    try:
        manager.handler.registered.wait(60)
        path = f"{sock}.{max(manager.handler.infos)}"
        _wait(lambda: pids(), 30)
        time.sleep(0.5 * settle)
        before = _proc_status(proc.pid)
        for k in range(kills):
            os.kill(pids()[-1], signal.SIGKILL)
            _wait(lambda: len(pids()) >= k + 2, 30)
        time.sleep(1.0 * settle)
        after = _proc_status(proc.pid)
        buf, _ = common.raw_call(path, "es_health", {"action": "generate", "context": "{}"})
        rows = common.decode_reply(buf).response
        total = next(r for r in rows if r["client"] == "process" and r["event_type"] == "*")
        identity = all(int(r["received"]) == sum(int(r[c]) for c in ("buffered", "evicted", "muted", "filtered",
                                                                       "decode_errors")) for r in rows)
        started = pids()
        orphans = sum(_alive(p) for p in started[:-1])
        return {"kills": kills, "restarts_counted": int(total["restarts"]), "state": total["state"],
                "received": int(total["received"]), "health_identity": identity, "before": before, "after": after,
                "children_left_running": orphans}
    finally:
        stop_child(proc)
        manager.stop()


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- report -------------------------------------------------------------------------------------

def _ms(w: dict) -> str:
    return f"{w['p50_ms']} / {w['p99_ms']} / {w['max_ms']} ms ({w['n']} pings, {w['failed']} failed)"


def markdown(doc: dict) -> str:
    f, r, s, life = doc["fuzz"], doc["redaction"], doc["socket"], doc["lifecycle"]
    m, x, esl = doc["machine"], s["exec_ingest"], life["eslogger"]
    seeds = f["seeds"]
    leaks = sum(r["pipeline_leaks"].values())
    return f"""# Reliability

Generated by `make fuzz` (`python -m bench.reliability`) on {doc['date']} in {doc['seconds']} s, {m.get('cores')}
cores, Python {m.get('python')}; the raw figures are in `bench/results/reliability.json`.
Nothing in the test suite asserts a time: the figures live here.

## Summary

| campaign | crashes | hangs | leaks | bounded |
|---|---|---|---|---|
| fuzz ({f['lines'] + f['hypothesis_examples']:,} lines) | {f['crashes']} | {f['hangs_over_2s']} over 2 s | values past 64 bits: {f['values_past_64_bits']} | RSS {f['rss']['at_10pct_mb']} MB at 10%, {f['rss']['max_mb']} MB max |
| redaction ({r['tried']:,} forms, {r['pipeline_events']:,} events) | - | - | secrets: {r['leaks'] + leaks} | false positives {r['false_positives']} |
| socket abuse | alive: {s['extension_alive']} | pings failed: {s['ping_abuse']['failed']} | threads {s['before']['threads']} → {s['after']['threads']}, fds {s['before']['fds']} → {s['after']['fds']} | RSS {s['before']['rss_mb']} → {s['peak']['rss_mb']} (peak) → {s['after']['rss_mb']} MB |
| lifecycle | alive: {life['after']['alive']}, deaths: {len(life['died'])} | re-registered {life['reregistered']} times | zombies {life['after']['zombies']}, eslogger children left {esl['children_left_running']} | fds {life['before']['fds']} → {life['after_restarts']['fds']}; eslogger {esl['before']['fds']} → {esl['after']['fds']} |

## Limits these campaigns exercise

| what | bound | when it is hit |
|---|---|---|
| a line from a source | `[input] max_line_bytes` (16 MiB) | counted as a decode error, skipped to the next newline |
| an integer in a line | 64 bits (signed; unsigned ids kept as text) | a decode error |
| one argv/env value scanned by redaction | `[redaction] max_value` (65536 characters) | masked whole as `<redacted:oversize>` |
| redaction work | linear in the exec's size | (built-ins scan each value once; configured regexes run on RE2) |
| all rings together | `[rings] max_bytes` (64 MiB) | the ring fullest for its share evicts its oldest events |
| decode error sample / error text | 200 bytes / 300 characters, redacted | cut, and a string cut mid-way is masked |
| extension socket | mode 0600; 30 s without a request or without reading a reply | the connection is closed |
| open connections | 64 | the longest-idle one is closed (one still sending its request counts as idle; one whose request waits unread, or is being answered, does not); with none to close, a new one waits up to 1 s, then is refused |
| replies being built and sent | 4 at once, 28 more calls may wait 60 s for them | past that, or after the wait, a call is answered "busy" |
| file descriptors | the process limit | accept pauses, the longest-idle connection is closed; never an exit |

## Fuzz

Seeds: {seeds['generated']:,} generated lines (the corpus's `types` scenario at message versions 11, mixed and 4,
tokens as objects, arrays and mixed: {seeds['event_types']} event types; the `bench` and `demo` mixes),
{seeds['real_captures']} real eslogger captures and {seeds['fixtures']} hand-made fixtures, read in place from the
data folder beside the checkout (none when it is absent; the captures are GPL and never copied). Mutations: 10% unmutated, 40% bytes (bit flips, insertions, cuts,
wide numbers), 45% JSON structure (a value replaced by another type, a 64-bit edge, a 900-deep list or odd
text; a key removed; an event type swapped), 5% splices of two lines. Then hypothesis: arbitrary bytes and
JSON-shaped messages (known event numbers, arbitrary bodies), one line each.

| figure | value |
|---|---|
| lines through `Pipeline.ingest` (mutation fuzzer) | {f['lines']:,} in {f['mutation_seconds']} s |
| hypothesis examples | {f['hypothesis_examples']:,} |
| crashes (an exception escaping ingest) | {f['crashes']} |
| hangs (a 512-line batch over 2 s) | {f['hangs_over_2s']} (slowest batch {f['slowest_batch_s']} s) |
| every line counted | {f['conserved']} ({f['lines_counted']:,} lines: {f['events']:,} events, {f['decode_errors']:,} decode errors) |
| es_health's identity on every row | {f['health_identity']} |
| values past 64 bits in es_health or any table | {f['values_past_64_bits']} |
| RSS: start / 10% / 50% / end / max | {f['rss']['start_mb']} / {f['rss']['at_10pct_mb']} / {f['rss']['at_50pct_mb']} / {f['rss']['end_mb']} / {f['rss']['max_mb']} MB |
| rings at the end / their budget | {f['rss']['rings_mb']} / {f['rss']['budget_mb']} MB |

## Redaction corpus

Every form of `bench/redaction_corpus.py` with {doc['sizes']['secrets']} random secrets each: through the
redactor, and as an exec (argv, env), a sudo (its command line, `VAR=value cmd args`) and a su (argv, env)
through the pipeline and the reply encoder.

| figure | value |
|---|---|
| forms (categories) | {r['forms']} ({r['categories']}) |
| forms tried with random secrets | {r['tried']:,} |
| leaks through the redactor | {r['leaks']} |
| leaks through the pipeline: es_exec / es_sudo / es_su | {r['pipeline_leaks']['es_exec']} / {r['pipeline_leaks']['es_sudo']} / {r['pipeline_leaks']['es_su']} (of {r['pipeline_events'] // 3:,} events each) |
| look-alikes / false positives (redactor, es_su) | {r['lookalikes']} / {r['false_positives']}, {r['false_positives_in_es_su']} |

## Socket abuse

One `osq-esf run` holding {s['events']:,} replayed events, while a client pings it on a fresh connection
every 10 ms (osquery's way) and checks each answer. Phases: idle; {s['idle']} idle connections and
{s['slow']} slow ones (half a request, then silence) opened and held; {s['concurrent_scans']} full scans of
`es_open` at once on top of them; {s['nonreading']} non-reading clients (a full scan, never read) added and
held; then every client closes.

| ping (p50 / p99 / max) | |
|---|---|
| idle | {_ms(s['ping']['idle'])} |
| idle and slow connections held | {_ms(s['ping']['held'])} |
| concurrent full scans | {_ms(s['ping']['scans'])} |
| non-reading clients held | {_ms(s['ping']['nonreading'])} |

Concurrent scans: {s['scans']['complete']} complete, {s['scans']['busy']} answered "busy", {s['scans']['closed']}
closed. The extension was alive afterwards: {s['extension_alive']}.

| figure | before | peak | after |
|---|---|---|---|
| threads | {s['before']['threads']} | {s['peak']['threads']} | {s['after']['threads']} |
| fds | {s['before']['fds']} | {s['peak']['fds']} | {s['after']['fds']} |
| RSS (MB) | {s['before']['rss_mb']} | {s['peak']['rss_mb']} | {s['after']['rss_mb']} |

### A 300,000-character argument and pings (issue 10)

The same extension, pinged every 10 ms, is then in turn ({doc['sizes']['rounds']} rounds of
{doc['sizes']['window']} s each): left idle; fed ordinary execs through its replay source as fast as it ingests
them; fed execs whose argument is `key` + {PATHOLOGICAL:,} × `a` (the exec that stalled pings before issue 10;
each one unique, so no cache spares the work).

| while the extension | execs | ingest per exec | ping p50 / p99 / max |
|---|---|---|---|
| is idle | - | - | {_ms(x['idle']['ping'])} |
| ingests ordinary execs | {x['ordinary']['execs']:,} | {x['ordinary']['ingest_ms_per_exec']} ms | {_ms(x['ordinary']['ping'])} |
| ingests {x['pathological']['argument_chars']:,}-character arguments | {x['pathological']['execs']:,} | {x['pathological']['ingest_ms_per_exec']} ms | {_ms(x['pathological']['ping'])} |

## Lifecycle

`osq-esf run --standalone` over a replay: osquery crashed (its socket gone without a word) and stopped
gracefully (it sends `shutdown` first) {life['osquery_crashes']} times each, and the extension registered
again each time; then the extension was killed with SIGKILL and started again {life['extension_kill9']} times.

| figure | before | after the restarts | after the kills |
|---|---|---|---|
| threads | {life['before']['threads']} | {life['after_restarts']['threads']} | {life['after']['threads']} |
| fds | {life['before']['fds']} | {life['after_restarts']['fds']} | {life['after']['fds']} |
| zombies | {life['before']['zombies']} | {life['after_restarts']['zombies']} | {life['after']['zombies']} |

Registrations after a restart or a kill: {life['reregistered']} of {2 * life['osquery_crashes'] + life['extension_kill9']}.
Stale sockets left by the kills: {life['stale_sockets_left']}. Zombies of the campaign itself: {life['zombies_of_the_campaign']}.

eslogger children: `osq-esf run --source eslogger` over the test double (`tests/fakes/eslogger`, events
looping), its child killed with SIGKILL {esl['kills']} times in a row.

| figure | value |
|---|---|
| restarts counted in es_health | {esl['restarts_counted']} (state {esl['state']}) |
| es_health's identity after the kills | {esl['health_identity']} ({esl['received']:,} events received) |
| threads, fds, zombies before | {esl['before']['threads']}, {esl['before']['fds']}, {esl['before']['zombies']} |
| threads, fds, zombies after | {esl['after']['threads']}, {esl['after']['fds']}, {esl['after']['zombies']} |
| killed children still running | {esl['children_left_running']} |
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the machinery only")
    ap.add_argument("--out", type=Path, help="where reliability.json and reliability.md go "
                                             "(default: bench/results and docs; nothing with --quick)")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    logging.getLogger("osq_esf").setLevel(logging.ERROR)  # the fuzzed pipeline's loss warnings are expected
    t0 = time.perf_counter()
    doc = {"date": datetime.date.today().isoformat(), "quick": args.quick, "sizes": sizes, "machine": common.machine()}
    for name, run in (("fuzz", lambda: fuzz(sizes["fuzz"], sizes["hypothesis"])),
                      ("redaction", lambda: redaction(sizes["secrets"])),
                      ("socket", lambda: socket_abuse(sizes)),
                      ("lifecycle", lambda: lifecycle(sizes["restarts"], sizes["kills"], sizes["eslogger_kills"],
                                                      sizes["settle"]))):
        t = time.perf_counter()
        doc[name] = run()
        doc[name]["seconds"] = round(time.perf_counter() - t, 1)
        print(f"{name}: {doc[name]['seconds']} s", file=sys.stderr, flush=True)
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    out = args.out
    if out is None and args.quick:
        print(json.dumps(doc, indent=1))
        return 0
    json_dir, md_dir = (out, out) if out else (ROOT / "bench" / "results", ROOT / "docs")
    json_dir.mkdir(parents=True, exist_ok=True)
    (json_dir / "reliability.json").write_text(json.dumps(doc, indent=1) + "\n")
    (md_dir / "reliability.md").write_text(markdown(doc))
    f, s = doc["fuzz"], doc["socket"]
    print(f"reliability campaigns done in {doc['seconds']} s: fuzz crashes {f['crashes']}, hangs {f['hangs_over_2s']}, "
          f"redaction leaks {doc['redaction']['leaks'] + sum(doc['redaction']['pipeline_leaks'].values())}, "
          f"ping p99 idle {s['ping_idle']['p99_ms']} ms, under abuse {s['ping_abuse']['p99_ms']} ms, during "
          f"300k-char execs {s['exec_ingest']['pathological']['ping']['p99_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
