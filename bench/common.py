"""What every benchmark shares: corpora, the app's own pipeline, a running extension,
a raw IDL client, memory readings and the machine description."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from osquery.extensions import Extension
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TMessageType
from thrift.transport import TTransport

import osq_esf.thrift_compat  # noqa: F401  (accelerated protocol for the client, on both sides' replies)
from bench import corpus



def lines(events: int, only: str | None = None, seed: int = 1, rate: int = 5000):
    """Corpus lines from the project's generator when it is there, else bench/corpus.py."""
    return corpus.lines(events, seed=seed, rate=rate, only=only)


def config_file(capacity: int, directory: str) -> str:
    """A TOML config giving every event ring room for ``capacity`` rows and no byte bound, so a
    benchmark measures ingest and delivery, not eviction."""
    from osq_esf.kinds import default_kinds

    path = os.path.join(directory, "bench.toml")
    with open(path, "w") as f:
        f.write("[rings]\nmax_bytes = 0\n")
        for t in default_kinds().layouts():
            f.write(f"[rings.{t}]\ncapacity = {capacity}\nmax_bytes = 0\n")
    return path


def app_pipeline(capacity: int | None):
    """The pipeline exactly as ``osq-esf run`` wires it (stages included), sources unstarted;
    ``capacity`` None keeps every default (capacities and the global byte budget)."""
    from osq_esf.app import App

    d = tempfile.mkdtemp(prefix="osqbench")
    config = None if capacity is None else config_file(capacity, d)
    args = argparse.Namespace(source=["replay:/dev/null"], config=config, speed=0.0)
    return App.from_args(args).pipeline


def feed(pipeline, it, batch: int = 512) -> None:
    """Push lines through ``pipeline.ingest`` in source-sized batches."""
    from osq_esf.sources.base import BATCH

    st = pipeline.add_source("bench", "replay")
    buf = []
    for line in it:
        buf.append(line)
        if len(buf) >= BATCH:
            pipeline.ingest(st, buf)
            buf = []
    if buf:
        pipeline.ingest(st, buf)
    return st


# -- a running extension ------------------------------------------------------------------


FAKE_ESLOGGER = str(Path(__file__).resolve().parents[1] / "tests" / "fakes" / "eslogger")


def fake_eslogger_env(input_path: str, rate: float, **extra) -> dict:
    """The environment that makes ``--source eslogger`` run the test double as a paced flood
    of ``input_path`` (looped) at ``rate`` events/s offered over all clients."""
    env = {"OSQ_ESF_ESLOGGER": FAKE_ESLOGGER, "FAKE_ESLOGGER_INPUT": input_path,
           "FAKE_ESLOGGER_RATE": str(rate), "FAKE_ESLOGGER_LOOP": "1"}
    env.update({f"FAKE_ESLOGGER_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class RunningExtension:
    """``osq-esf run`` against tests/idl_peer.IdlManager, fed corpus lines on stdin.

    ``capacity`` None runs with no config file (every default, as installed); ``sources``
    adds sources (``eslogger`` with :func:`fake_eslogger_env` in ``env``).  Ready once the
    stdin replay is drained.
    """

    def __init__(self, line_iter, capacity: int | None, sources=("replay:-",), env: dict | None = None):
        from tests.idl_peer import IdlManager

        self.dir = tempfile.mkdtemp(prefix="osqbench")
        self.socket = os.path.join(self.dir, "em")
        self.manager = IdlManager(self.socket).start()
        cmd = [sys.executable, "-m", "osq_esf", "run", "--socket", self.socket, "--timeout", "10", "--interval", "5"]
        if capacity is not None:
            cmd += ["--config", config_file(capacity, self.dir)]
        for spec in sources:
            cmd += ["--source", spec]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=dict(os.environ, **(env or {})))
        if not self.manager.handler.registered.wait(60):
            self.close()
            raise RuntimeError("extension did not register: " + self.proc.stderr.read().decode())
        self.uuid = max(self.manager.handler.infos)
        self.path = f"{self.socket}.{self.uuid}"
        self._wait_for(lambda: os.path.exists(self.path), 10)
        stdin = self.proc.stdin
        for line in line_iter:
            stdin.write(line)
        stdin.close()
        if "replay:-" in sources:
            self._wait_for(self._drained, 600)

    @staticmethod
    def _wait_for(cond, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError("the extension did not get there in time")
            time.sleep(0.05)

    def _drained(self) -> bool:
        rows = [r for r in self.generate_rows("es_sources") if r["kind"] == "replay"]
        return bool(rows) and all(r["state"] in ("drained", "failed", "stopped") for r in rows)

    def generate_rows(self, table: str, context: dict | None = None) -> list[dict]:
        buf, _ = raw_call(self.path, table, {"action": "generate", "context": json.dumps(context or {})})
        return decode_reply(buf).response

    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        from tests.idl_peer import stop_child

        stop_child(self.proc)
        self.manager.stop()


# -- the raw IDL client ------------------------------------------------------------------------


def encode_call(table: str, request: dict, seqid: int = 1) -> bytes:
    buf = TTransport.TMemoryBuffer()
    prot = TBinaryProtocol.TBinaryProtocolAccelerated(buf)
    prot.writeMessageBegin("call", TMessageType.CALL, seqid)
    Extension.call_args(registry="table", item=table, request=request).write(prot)
    prot.writeMessageEnd()
    return buf.getvalue()


def encode_ping(seqid: int = 1) -> bytes:
    buf = TTransport.TMemoryBuffer()
    prot = TBinaryProtocol.TBinaryProtocolAccelerated(buf)
    prot.writeMessageBegin("ping", TMessageType.CALL, seqid)
    Extension.ping_args().write(prot)
    prot.writeMessageEnd()
    return buf.getvalue()


def raw_exchange(path: str, request: bytes, timeout: float = 300.0) -> tuple[bytes, float]:
    """Send one request on a fresh connection, half-close, read the reply to EOF.

    Both servers close a connection at EOF after answering, so the time to the last
    byte is the server's whole answer without any client-side decoding in it.
    """
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.perf_counter()
    s.connect(path)
    s.sendall(request)
    s.shutdown(socket.SHUT_WR)
    chunks = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
    elapsed = time.perf_counter() - t0
    s.close()
    return b"".join(chunks), elapsed


def raw_call(path: str, table: str, request: dict) -> tuple[bytes, float]:
    return raw_exchange(path, encode_call(table, request))


def decode_reply(buf: bytes):
    """The ExtensionResponse in a ``call`` reply (accelerated protocol, as in osquery-python with thrift_compat)."""
    prot = TBinaryProtocol.TBinaryProtocolAccelerated(TTransport.TMemoryBuffer(buf))
    name, mtype, _seqid = prot.readMessageBegin()
    if mtype != TMessageType.REPLY:
        raise RuntimeError(f"{name}: not a reply (type {mtype})")
    result = Extension.call_result()
    result.read(prot)
    return result.success


# -- memory and machine ---------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads, not its children): /proc on Linux."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size now (Linux /proc; elsewhere the peak, from resource)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    from importlib.metadata import version

    return {
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "msgspec": version("msgspec"),
        "orjson": version("orjson"),
        "thrift": version("thrift"),
        "osquery-python": version("osquery"),
    }


def timed(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (the least disturbed by the other core's work)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def background(fn):
    th = threading.Thread(target=fn, daemon=True)
    th.start()
    return th
