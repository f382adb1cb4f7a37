"""P2 delivery: SELECT * of a 100k-row es_open (single-type corpus) through the UNIX-socket thrift path,
against the socket's own speed (a bare server sending the very same reply bytes, ready-made) and
osquery-python's TablePlugin serving the very same rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.bare import BareServer
from bench.common import RunningExtension, decode_reply, encode_call, lines, raw_call, raw_exchange

TABLE = "es_open"


def _sdk_extension(rows_file: str, manager_dir: str):
    from tests.idl_peer import IdlManager

    sock = os.path.join(manager_dir, "sdk_em")
    manager = IdlManager(sock).start()
    env = dict(os.environ, BENCH_ROWS=rows_file, BENCH_TABLE=TABLE)
    proc = subprocess.Popen([sys.executable, "-m", "bench.sdk_server", "--socket", sock, "--timeout", "10",
                             "--interval", "5"], env=env, stderr=subprocess.PIPE)
    if not manager.handler.registered.wait(120):
        proc.kill()
        raise RuntimeError("the SDK extension did not register: " + proc.stderr.read().decode())
    path = f"{sock}.{max(manager.handler.infos)}"
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, manager, path


def run(rows: int = 100_000, repeat: int = 3, sdk_repeat: int = 2) -> dict:
    ext = RunningExtension(lines(rows, only="open"), capacity=rows * 2)
    try:
        request = {"action": "generate", "context": json.dumps({})}
        buf, _ = raw_call(ext.path, TABLE, request)  # warm: each process's columns are encoded once, then reused
        # Interleaved with the bare transfer of the same bytes, so both see the same machine weather.
        ours = bare = float("inf")
        with BareServer(ext.dir, {"all": buf}) as paths:
            for _ in range(repeat):
                buf, t = raw_call(ext.path, TABLE, request)
                ours = min(ours, t)
                same, t = raw_exchange(paths["all"], encode_call(TABLE, request))
                bare = min(bare, t)
        if same != buf:
            raise RuntimeError("the bare server sent other bytes")
        del same
        t = time.perf_counter()
        reply = decode_reply(buf)
        client_decode = time.perf_counter() - t
        got = reply.response
        if len(got) != rows:
            raise RuntimeError(f"es_open sent {len(got)} rows, expected {rows}")
        reply_bytes = len(buf)
        rows_file = os.path.join(ext.dir, "rows.json")
        with open(rows_file, "w") as f:
            json.dump(got, f)
        del got, reply, buf
        proc, manager, path = _sdk_extension(rows_file, ext.dir)
        try:
            sdk = float("inf")
            for _ in range(sdk_repeat):
                sbuf, t = raw_call(path, TABLE, request)
                sdk = min(sdk, t)
            sdk_rows = len(decode_reply(sbuf).response)
            if sdk_rows != rows:
                raise RuntimeError(f"the SDK sent {sdk_rows} rows, expected {rows}")
            sdk_bytes = len(sbuf)
        finally:
            proc.kill()
            proc.wait()
            manager.stop()
    finally:
        ext.close()
    figure, baseline = rows / ours, rows / bare
    ratio, sdk_ratio = figure / baseline, sdk / ours
    return {
        "id": "P2", "name": "delivery", "unit": "rows/s", "figure": figure, "baseline": baseline,
        "baseline_name": "bare UNIX-socket transfer of the same reply bytes",
        "ratio": ratio, "target": ">= 0.6x bare, >= 10x the SDK", "met": ratio >= 0.6 and sdk_ratio >= 10,
        "details": {"rows": rows, "seconds": ours, "bare_seconds": bare, "sdk_rows_per_s": rows / sdk,
                    "sdk_ratio": sdk_ratio, "sdk_seconds": sdk, "reply_bytes": reply_bytes,
                    "bare_mb_per_s": reply_bytes / bare / 1e6, "ours_mb_per_s": reply_bytes / ours / 1e6,
                    "sdk_reply_bytes": sdk_bytes, "client_decode_seconds": client_decode},
    }
