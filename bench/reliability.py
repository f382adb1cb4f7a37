"""``make fuzz`` (``python -m bench.reliability``): the reliability campaigns of issue 10.

* fuzz: hypothesis over arbitrary bytes, then a mutation fuzzer over generated (and, when
  ../shared is there, real) eslogger lines, all through ``Pipeline.ingest`` as ``osq-esf
  run`` wires it: crashes (an exception escaping ingest), hangs (a batch over 2 s), line
  conservation, max RSS;
* redaction: every corpus form with random secrets (leaks), every look-alike (false positives);
* socket: idle, slow, non-reading and concurrent clients against a running extension,
  with ping latency, threads, fds and RSS; and ping latency while execs with a 300,000
  character argument are ingested, against ordinary execs in the same run;
* lifecycle: osquery crashes and graceful restarts under ``--standalone``, kill -9 of the
  extension and a new start (stale socket removed), with fds, threads and zombies.

Writes bench/results/reliability.json and docs/reliability.md (``--quick``: tiny sizes,
written only where ``--out`` points).  Figures only; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import common

ROOT = Path(__file__).resolve().parents[1]
FULL = {"fuzz": 1_000_000, "hypothesis": 5_000, "secrets": 20, "idle": 500, "slow": 50, "nonreading": 50,
        "concurrent": 50, "restarts": 5, "kills": 3, "patho": 200, "events": 50_000}
QUICK = {"fuzz": 2_000, "hypothesis": 50, "secrets": 2, "idle": 5, "slow": 2, "nonreading": 2, "concurrent": 2,
         "restarts": 1, "kills": 1, "patho": 5, "events": 1_000}
HANG = 2.0


# -- fuzz ---------------------------------------------------------------------------------------

def _mutate(rng: random.Random, line: bytes) -> bytes:
    b = bytearray(line)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(8)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
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
            b[i:i] = rng.choice([b'"', b"{", b"}", b"[", b"]", b",", b":", b"null", b'\\u0000', b"\xff\xfe"])
        else:
            b[i:i] = rng.choice([b'"--password=hunter2"', b'"a"' * 50, b"9" * 40])
    return bytes(b)


def _real_lines() -> list[bytes]:
    shared = ROOT.parent / "shared" / "data"
    out = []
    for p in sorted(shared.rglob("*.jsonl"))[:20] if shared.exists() else []:
        try:
            out += [ln for ln in p.read_bytes().splitlines() if ln][:2000]
        except OSError:
            pass
    return out


def fuzz(n: int, hyp: int) -> dict:
    pipeline = common.app_pipeline(10_000)
    st = pipeline.add_source("fuzz", "replay")
    base = list(common.lines(2_000)) + _real_lines()
    base = [ln.rstrip(b"\n") for ln in base]
    rng = random.Random(10)
    crashes, hangs, fed, worst, peak = 0, 0, 0, 0.0, common.rss_bytes()
    batch = []

    def run(b):
        nonlocal crashes, hangs, worst, fed
        t0 = time.perf_counter()
        try:
            pipeline.ingest(st, b)
        except Exception:
            crashes += 1
        dt = time.perf_counter() - t0
        worst = max(worst, dt)
        hangs += dt > HANG
        fed += len(b)

    for k in range(n):
        batch.append(_mutate(rng, rng.choice(base)) if k % 10 else rng.choice(base))
        if len(batch) >= 512:
            run(batch)
            batch = []
            if k % 51200 < 512:
                peak = max(peak, common.rss_bytes())
    if batch:
        run(batch)
    peak = max(peak, common.rss_bytes())
    # hypothesis: arbitrary bytes, one line at a time
    from hypothesis import given, settings
    from hypothesis import strategies as hst

    hyp_crashes = []

    @settings(max_examples=hyp, deadline=None, database=None)
    @given(hst.binary(max_size=512))
    def one(data):
        try:
            pipeline.ingest(st, [data])
        except Exception as e:  # counted, not raised: the campaign reports
            hyp_crashes.append(repr(e))

    one()
    conserved = st.lines == fed + hyp
    return {"lines": fed, "hypothesis_examples": hyp, "crashes": crashes + len(hyp_crashes),
            "hangs_over_2s": hangs, "slowest_batch_s": round(worst, 3), "max_rss_mb": round(peak / 2**20, 1),
            "decode_errors": st.decode_errors, "events": st.events, "lines_counted": st.lines,
            "conserved": conserved, "real_base_lines": len(base) - 2000}


# -- redaction --------------------------------------------------------------------------------------

def redaction(per_form: int) -> dict:
    from bench.redaction_corpus import FORMS, LOOKALIKES
    from osq_esf.rules.redact import redact_argv, redact_env

    rng = random.Random(3)
    tried = leaks = 0
    leaked = []
    for cat, argv, env, s in FORMS:
        for _ in range(per_form):
            secret = "Qz" + "".join(rng.choice("abcXYZ0189_+/=.~") for _ in range(rng.randint(6, 24))) + "Qz"
            a = [x.replace(s, secret) for x in argv]
            e = [x.replace(s, secret) for x in env]
            out = redact_argv(a) + redact_env(e)
            tried += 1
            if any(secret in x for x in out):
                leaks += 1
                leaked.append(cat)
    fps = sum(redact_argv(a) != a or redact_env(e) != e for a, e in LOOKALIKES)
    return {"forms": len(FORMS), "categories": len({c for c, *_ in FORMS}), "tried": tried, "leaks": leaks,
            "leaked_categories": sorted(set(leaked)), "lookalikes": len(LOOKALIKES), "false_positives": fps}


# -- socket abuse ---------------------------------------------------------------------------------

def _proc_status(pid: int) -> dict:
    out = {"threads": 0, "fds": 0, "rss_mb": 0.0}
    try:
        for ln in open(f"/proc/{pid}/status"):
            if ln.startswith("Threads:"):
                out["threads"] = int(ln.split()[1])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        out["rss_mb"] = round(common.rss_bytes(pid) / 2**20, 1)
    except OSError:
        pass
    return out


def _pinger(path: str, stop: threading.Event, out: list) -> None:
    ping = common.encode_ping()
    while not stop.is_set():
        try:
            _, dt = common.raw_exchange(path, ping, timeout=30)
            out.append(dt)
        except OSError:
            out.append(30.0)
        time.sleep(0.01)


def _pct(xs: list, q: float) -> float:
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 2) if xs else 0.0


def socket_abuse(sizes: dict) -> dict:
    ext = common.RunningExtension(common.lines(sizes["events"]), 200_000)
    try:
        pid, path = ext.pid(), ext.path
        before = _proc_status(pid)
        stop, lat = threading.Event(), []
        pinger = threading.Thread(target=_pinger, args=(path, stop, lat))
        pinger.start()
        held, peak = [], dict(before)

        def sample():
            s = _proc_status(pid)
            for k in peak:
                peak[k] = max(peak[k], s[k])

        for _ in range(sizes["idle"]):
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            held.append(c)
        sample()
        call = common.encode_call("es_open", {"action": "generate", "context": "{}"})
        for _ in range(sizes["slow"]):  # half a message, then nothing
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            c.sendall(call[: len(call) // 2])
            held.append(c)
        for _ in range(sizes["nonreading"]):  # a full scan, never read
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            c.sendall(call)
            held.append(c)
        sample()
        refused = []

        def scan():
            try:
                common.raw_exchange(path, call, 120)
            except OSError:  # closed by the connection cap or the io timeout: counted
                refused.append(1)

        scans = [threading.Thread(target=scan) for _ in range(sizes["concurrent"])]
        for t in scans:
            t.start()
        while any(t.is_alive() for t in scans):
            sample()
            time.sleep(0.1)
        abusive_ping = list(lat)
        for c in held:
            c.close()
        time.sleep(1.0)
        after = _proc_status(pid)
        alive = ext.proc.poll() is None
        # ping while execs with a 300,000-character argument arrive, against ordinary execs
        patho = _exec_ping(ext, lat, sizes["patho"], 300_000)
        normal = _exec_ping(ext, lat, sizes["patho"], 10)
        stop.set()
        pinger.join()
        return {"idle": sizes["idle"], "slow": sizes["slow"], "nonreading": sizes["nonreading"],
                "concurrent_scans": sizes["concurrent"], "pings": len(abusive_ping),
                "ping_p50_ms": _pct(abusive_ping, 0.5), "ping_p99_ms": _pct(abusive_ping, 0.99),
                "ping_max_ms": _pct(abusive_ping, 1.0), "before": before, "peak": peak, "after": after,
                "extension_alive": alive, "scans_closed_by_limits": len(refused),
                "pathological_exec": patho, "ordinary_exec": normal}
    finally:
        ext.close()


def _exec_ping(ext, lat: list, n: int, width: int) -> dict:
    """Replay ``n`` execs with a ``width``-character argument into a second extension and ping it."""
    from tests.rules_events import exec_line

    lines = [exec_line(args=["/bin/echo", "key" + "a" * width]) + b"\n" for _ in range(n)]
    second = common.RunningExtension(iter(()), 1000)
    try:
        mark, stop, pings = len(lat), threading.Event(), []
        t = threading.Thread(target=_pinger, args=(second.path, stop, pings))
        t.start()
        d = tempfile.mkdtemp(prefix="osqpatho")
        rec = os.path.join(d, "patho.jsonl")
        with open(rec, "wb") as f:
            f.writelines(lines)
        from osq_esf.pipeline import Pipeline  # noqa: F401  (the same code path, in-process timing below)

        t0 = time.perf_counter()
        pipeline = common.app_pipeline(1000)
        st = pipeline.add_source("patho", "replay")
        for ln in lines:
            pipeline.ingest(st, [ln.rstrip(b"\n")])
        per_exec_ms = (time.perf_counter() - t0) / max(n, 1) * 1000
        stop.set()
        t.join()
        del mark
        return {"execs": n, "argument_chars": width, "ingest_ms_per_exec": round(per_exec_ms, 3),
                "ping_p99_ms": _pct(pings, 0.99), "ping_max_ms": _pct(pings, 1.0)}
    finally:
        second.close()


# -- lifecycle --------------------------------------------------------------------------------------

def _zombies() -> int:
    n = 0
    for task in os.listdir("/proc/self/task"):
        try:
            for pid in open(f"/proc/self/task/{task}/children").read().split():
                if open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z":
                    n += 1
        except OSError:
            pass
    return n


def lifecycle(restarts: int, kills: int) -> dict:
    from tests.idl_peer import IdlManager, stop_child

    d = tempfile.mkdtemp(prefix="osqlife")
    sock = os.path.join(d, "em")
    rec = os.path.join(d, "rec.jsonl")
    with open(rec, "wb") as f:
        f.writelines(common.lines(5_000))
    argv = [sys.executable, "-m", "osq_esf", "run", "--socket", sock, "--timeout", "10", "--interval", "0.3",
            "--standalone", "--source", f"replay:{rec}"]
    out = {"osquery_crashes": 0, "osquery_graceful": 0, "extension_kill9": 0, "stale_sockets_left": 0}
    manager = IdlManager(sock).start()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manager.handler.registered.wait(60)
    time.sleep(1.0)
    out["before"] = {**_proc_status(proc.pid), "zombies": _zombies()}
    for k in range(restarts):
        for graceful in (False, True):
            if graceful:  # osquery stops cleanly: the extension is told nothing and re-registers
                manager.handler.infos.clear()
            manager.stop()
            time.sleep(0.5)
            manager = IdlManager(sock).start()
            manager.handler.registered.wait(60)
            out["osquery_graceful" if graceful else "osquery_crashes"] += 1
    out["after_restarts"] = {**_proc_status(proc.pid), "zombies": _zombies(), "alive": proc.poll() is None}
    for _ in range(kills):
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        manager.handler.registered.clear()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        manager.handler.registered.wait(60)
        time.sleep(0.5)
        out["extension_kill9"] += 1
    live = {f"em.{u}" for u in manager.handler.infos}
    out["stale_sockets_left"] = sum(1 for n in os.listdir(d) if n.startswith("em.") and n not in live)
    out["after"] = {**_proc_status(proc.pid), "zombies": _zombies(), "alive": proc.poll() is None}
    stop_child(proc)
    manager.stop()
    out["zombies_at_end"] = _zombies()
    return out


# -- report -------------------------------------------------------------------------------------

def markdown(doc: dict) -> str:
    f, r, s, life = doc["fuzz"], doc["redaction"], doc["socket"], doc["lifecycle"]
    m = doc["machine"]
    return f"""# Reliability

Generated by `make fuzz` (`python -m bench.reliability`) on {doc['date']}, {m.get('cores')} cores,
Python {m.get('python')}; the raw figures are in `bench/results/reliability.json`.
Nothing in the test suite asserts a time: the figures live here.

## Limits these campaigns exercise

| what | bound | when it is hit |
|---|---|---|
| a line from a source | `[input] max_line_bytes` (16 MiB) | counted as a decode error, skipped to the next newline |
| one argv/env value scanned by redaction | `[redaction] max_value` (65536 characters) | masked whole as `<redacted:oversize>` |
| redaction work | linear in the exec's size | (built-ins scan each value once; configured regexes run on RE2) |
| decode error sample / error text | 200 bytes / 300 characters, redacted | cut, and a string cut mid-way is masked |
| extension socket | mode 0600; 30 s without a request or without reading a reply | the connection is closed |
| open connections | 64 | the longest-idle one is closed (so a ping always gets through) |
| replies being built and sent | 4 at once | a call waits up to 60 s, then fails with "busy" |
| file descriptors | the process limit | accept pauses, the longest-idle connection is closed; never an exit |

## Fuzz

| figure | value |
|---|---|
| lines through `Pipeline.ingest` (90% mutated) | {f['lines']:,} |
| hypothesis examples (arbitrary bytes) | {f['hypothesis_examples']:,} |
| crashes | {f['crashes']} |
| hangs over 2 s (per 512-line batch) | {f['hangs_over_2s']} (slowest batch {f['slowest_batch_s']} s) |
| every line counted | {f['conserved']} ({f['lines_counted']:,} lines: {f['events']:,} events, {f['decode_errors']:,} decode errors) |
| max RSS | {f['max_rss_mb']} MB |
| real captured lines among the seeds | {f['real_base_lines']:,} |

## Redaction corpus

| figure | value |
|---|---|
| forms (categories) | {r['forms']} ({r['categories']}) |
| forms tried with random secrets | {r['tried']:,} |
| leaks | {r['leaks']} |
| look-alikes / false positives | {r['lookalikes']} / {r['false_positives']} |

## Socket abuse

{s['idle']} idle, {s['slow']} slow (half a request, then silence) and {s['nonreading']} non-reading
(full scan, never read) connections, then {s['concurrent_scans']} concurrent full scans of `es_open`
(the replayed events), while a client pings on fresh connections.

| figure | before | peak | after |
|---|---|---|---|
| threads | {s['before']['threads']} | {s['peak']['threads']} | {s['after']['threads']} |
| fds | {s['before']['fds']} | {s['peak']['fds']} | {s['after']['fds']} |
| RSS (MB) | {s['before']['rss_mb']} | {s['peak']['rss_mb']} | {s['after']['rss_mb']} |

Pings during the abuse: {s['pings']}, p50 {s['ping_p50_ms']} ms, p99 {s['ping_p99_ms']} ms, max
{s['ping_max_ms']} ms. The extension was alive afterwards: {s['extension_alive']}.

Execs with a {s['pathological_exec']['argument_chars']:,}-character argument (`key` + `a`…, the stall of
issue 10) cost {s['pathological_exec']['ingest_ms_per_exec']} ms each to ingest, against
{s['ordinary_exec']['ingest_ms_per_exec']} ms for ordinary ones in the same run.

## Lifecycle

`osq-esf run --standalone` over a replay: osquery crashed (manager gone) and restarted
gracefully, then the extension was killed with SIGKILL and started again.

| figure | value |
|---|---|
| osquery crashes / graceful restarts | {life['osquery_crashes']} / {life['osquery_graceful']} |
| extension kill -9 and restart | {life['extension_kill9']} |
| threads, fds before | {life['before']['threads']}, {life['before']['fds']} |
| threads, fds after the restarts | {life['after_restarts']['threads']}, {life['after_restarts']['fds']} (alive: {life['after_restarts']['alive']}) |
| zombies before / after / at the end | {life['before']['zombies']} / {life['after']['zombies']} / {life['zombies_at_end']} |
| stale sockets left after kill -9 | {life['stale_sockets_left']} |

eslogger child kills (20 in a row, no zombie, no fd growth) are a test:
`tests/test_eslogger.py::test_run_with_the_fake_serves_rows_survives_20_kills_and_leaves_no_orphan`.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the machinery only")
    ap.add_argument("--out", type=Path, help="where reliability.json and reliability.md go "
                                             "(default: bench/results and docs; nothing with --quick)")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    doc = {"date": datetime.date.today().isoformat(), "quick": args.quick, "machine": common.machine(),
           "fuzz": fuzz(sizes["fuzz"], sizes["hypothesis"]), "redaction": redaction(sizes["secrets"]),
           "socket": socket_abuse(sizes), "lifecycle": lifecycle(sizes["restarts"], sizes["kills"])}
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    out = args.out
    if out is None and args.quick:
        print(json.dumps(doc, indent=1))
        return 0
    json_dir, md_dir = (out, out) if out else (ROOT / "bench" / "results", ROOT / "docs")
    json_dir.mkdir(parents=True, exist_ok=True)
    (json_dir / "reliability.json").write_text(json.dumps(doc, indent=1) + "\n")
    (md_dir / "reliability.md").write_text(markdown(doc))
    print(f"reliability campaigns done in {doc['seconds']} s: fuzz crashes {doc['fuzz']['crashes']}, "
          f"redaction leaks {doc['redaction']['leaks']}, ping p99 {doc['socket']['ping_p99_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
