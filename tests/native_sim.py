"""Shared by the native tests: the simulator build, a message builder, source helpers.

Messages are built with cffi from the simulated header's own types (native/sim), so
a test sets exactly the fields it means, the way ES would fill them.  The ``sim``
fixture fails a test on any violation the strict simulator recorded: an AUTH message
left unanswered, a call the simulated macOS does not have, es_delete_client from
the wrong thread.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import contextmanager

import pytest

from osq_esf import events
from osq_esf.config import parse_config
from osq_esf.sources.native import ENV_SIM, native_sources
from tests.conftest import REPO

DATA = REPO / "tests" / "data"
BY_NAME = {t.name: t for t in events.BY_NUMBER.values()}  # ES_EVENT_TYPE_NOTIFY_OPEN -> type


def build_simulator(out, **options) -> str:
    """Compile the simulator build of _esf_native into ``out`` (skip the test when that cannot be done)."""
    if not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no C compiler: the native shim cannot be built here")
    sys.path.insert(0, str(REPO / "native"))
    try:
        import build as native_build
    finally:
        sys.path.remove(str(REPO / "native"))
    try:
        native_build.build(out, simulator=True, **options)
    except Exception as e:  # cffi's VerificationError / CompileError: no working toolchain
        pytest.skip(f"cannot build the simulator shim: {e}")
    return str(out)


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory):
    """The simulator build of _esf_native, compiled once per run with the system compiler."""
    return build_simulator(tmp_path_factory.mktemp("esf_native"))


@pytest.fixture
def sim(sim_dir, monkeypatch):
    from osq_esf.sources.native import load_module

    monkeypatch.setenv(ENV_SIM, sim_dir)
    mod = load_module()
    mod.lib.es_sim_reset()
    yield mod
    assert violations(mod) == [], "the strict simulator recorded violations"


def text_of(mod, fn) -> list[str]:
    buf = mod.ffi.new("char[]", 1 << 20)
    return mod.ffi.buffer(buf, fn(buf, 1 << 20))[:].decode().splitlines()


def calls(mod) -> list[str]:
    return text_of(mod, mod.lib.es_sim_calls)


def violations(mod) -> list[str]:
    return text_of(mod, mod.lib.es_sim_violations)


def muted_paths(mod, es) -> set[str]:
    buf = mod.ffi.new("char[]", 1 << 16)
    return set(mod.ffi.buffer(buf, mod.lib.es_sim_muted_paths(es, buf, 1 << 16))[:].decode().splitlines())


def load_default_mute_set(mod, name: str = "es_default_mute_set_13_3_1.json") -> int:
    """Install Apple's default mute set (Mac Monitor's dump, tests/data) for new clients."""
    n = 0
    for line in (DATA / name).read_text().splitlines():
        entry = json.loads(line)
        numbers = [BY_NAME[e].number for e in entry["events"] if e in BY_NAME]
        kind = {"ES_MUTE_PATH_TYPE_LITERAL": 1, "ES_MUTE_PATH_TYPE_PREFIX": 0,
                "ES_MUTE_PATH_TYPE_TARGET_LITERAL": 3, "ES_MUTE_PATH_TYPE_TARGET_PREFIX": 2}[entry["type"]]
        mod.lib.es_sim_add_default_mute(entry["path"].encode(), kind, mod.ffi.new("uint32_t[]", numbers),
                                        len(numbers))
        n += 1
    return n


def wait_for(pred, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def by_client(lines: list[str]) -> dict[int, list[str]]:
    """The call log per client id, without the id."""
    out: dict[int, list[str]] = {}
    for line in lines:
        word, ident, *rest = line.split(" ")
        if word == "new_client" and ident == "-":
            continue
        out.setdefault(int(ident), []).append(" ".join([word, *rest]))
    return out


def without_self_mute(log: list[str]) -> list[str]:
    return [c for c in log if not c.startswith("mute_process ")]


def start(p, mod, config_text: str = "", arg: str = "", ring_bytes: int | None = None):
    cfg = parse_config(config_text, "test") if config_text else None
    srcs = native_sources(p, arg, "native" + (":" + arg if arg else ""), cfg, module=mod)
    for s in srcs:
        if ring_bytes:
            s.ring_bytes = ring_bytes
        s.start()
    wait_for(lambda: all(s.state.state != "starting" for s in srcs), "sources to start")
    return {s.state.name: s for s in srcs}


def stop(srcs):
    for s in srcs.values():
        s.stop()
    for s in srcs.values():
        s.join(10)
        assert not s._thread.is_alive()


@contextmanager
def running(p, mod, config_text: str = "", **options):
    """The sources of ``config_text`` with its rules installed, stopped afterwards."""
    install_rules(p, config_text)
    srcs = start(p, mod, config_text, **options)
    try:
        yield srcs
    finally:
        stop(srcs)


def install_rules(p, config_text: str = ""):
    """The rules the app would install for this config (defaults without one)."""
    from tests.pipelines import install_config

    install_config(p, config_text)


def es_of(mod, src):
    return mod.lib.esf_es_client(src.client)


class Builder:
    """es_message_t and what it points to, built from the simulated types.

    Every allocation is kept alive as long as the builder: the simulator queues a copy
    of the top-level message only, the rest is read when the handler runs.
    """

    def __init__(self, mod):
        self.ffi, self.lib = mod.ffi, mod.lib
        self.keep: list = []

    def new(self, ctype: str, init=None):
        p = self.ffi.new(ctype, init)
        self.keep.append(p)
        return p

    def chars(self, text: str | bytes):
        return self.new("char[]", text.encode() if isinstance(text, str) else text)

    def tok(self, text: str | bytes | None):
        """An es_string_token_t; None is ES's empty token (data NULL)."""
        if text is None:
            return self.new("es_string_token_t *")[0]
        data = text.encode() if isinstance(text, str) else text
        return self.new("es_string_token_t *", {"length": len(data), "data": self.chars(data)})[0]

    def toks(self, items: list):
        arr = self.new("es_string_token_t[]", max(len(items), 1))
        for i, t in enumerate(items):
            arr[i] = self.tok(t)
        return arr

    def audit(self, pid=100, pidversion=1, uid=501, gid=20, asid=100001):
        return self.new("audit_token_t *", {"val": [uid, uid, gid, uid, gid, pid, asid, pidversion]})

    def file(self, path: str | bytes | None, uid=501, gid=20, mode=0o100644, size=42, birth=1_700_000_000,
             truncated=False):
        if path is None:
            return self.ffi.NULL
        f = self.new("es_file_t *")
        f.path = self.tok(path)
        f.path_truncated = truncated
        f.stat.st_uid, f.stat.st_gid, f.stat.st_mode, f.stat.st_size = uid, gid, mode, size
        f.stat.st_birthtimespec.tv_sec, f.stat.st_birthtimespec.tv_nsec = birth, 5
        return f

    def process(self, path="/bin/zsh", pid=100, pidversion=1, ppid=1, uid=501, signing_id="com.apple.zsh",
                team_id=None, tty=None, start=(1_790_000_000, 123456), responsible=None, parent=(1, 7),
                codesigning_flags=0x2000001, platform=True, cs_validation_category=1):
        p = self.new("es_process_t *")
        p.audit_token = self.audit(pid, pidversion, uid)[0]
        p.ppid = p.original_ppid = ppid
        p.group_id, p.session_id = pid, 1
        p.codesigning_flags = codesigning_flags
        p.is_platform_binary = platform
        for i in range(20):
            p.cdhash[i] = i * 13 % 256
        p.signing_id = self.tok(signing_id)
        p.team_id = self.tok(team_id)
        p.executable = self.file(path, uid=0, mode=0o100755)
        p.tty = self.file(tty) if tty else self.ffi.NULL
        p.start_time.tv_sec, p.start_time.tv_usec = start
        rpid, rver = responsible or (pid, pidversion)
        p.responsible_audit_token = self.audit(rpid, rver, uid)[0]
        p.parent_audit_token = self.audit(parent[0], parent[1], 0)[0]
        p.cs_validation_category = cs_validation_category
        return p

    def message(self, short: str, version: int = 10, process=None, seq_time: int = 0, thread_id: int | None = 4242,
                auth: bool = False):
        """An envelope for ``short`` (an eslogger name, or an AUTH type's lower-case name with auth=True)."""
        m = self.new("es_message_t *")
        m.version = version
        m.time.tv_sec, m.time.tv_nsec = 1_790_000_000 + seq_time, 314153644
        m.mach_time = 99 + seq_time
        m.process = process if process is not None else self.process()
        m.action_type = 0 if auth else 1
        m.event_type = BY_NAME[f"ES_EVENT_TYPE_{'AUTH' if auth else 'NOTIFY'}_{short.upper()}"].number
        if thread_id is not None:
            th = self.new("es_thread_t *")
            th.thread_id = thread_id
            m.thread = th
        return m

    def exec_lists(self, m, args=(), env=(), fds=()):
        lists = self.new("es_sim_exec_lists *")
        lists.argc, lists.args = len(args), self.toks(list(args))
        lists.envc, lists.env = len(env), self.toks(list(env))
        arr = self.new("es_fd_t[]", max(len(fds), 1))
        for i, (fd, fdtype, pipe_id) in enumerate(fds):
            arr[i].fd, arr[i].fdtype = fd, fdtype
            arr[i].pipe.pipe_id = pipe_id
        lists.fdc, lists.fds = len(fds), arr
        m.opaque[0] = int(self.ffi.cast("uintptr_t", lists))
        return m

    def exec(self, target=None, args=(), env=(), fds=(), cwd="/Users/me", script=None, dyld_exec_path=None,
             last_fd=2, cputype=16777228, cpusubtype=2, **kw):
        m = self.message("exec", **kw)
        e = m.event.exec
        e.target = target if target is not None else self.process("/bin/ls", pidversion=2)
        e.dyld_exec_path = self.tok(dyld_exec_path if dyld_exec_path is not None else "/bin/ls")
        e.script = self.file(script) if script else self.ffi.NULL
        e.cwd = self.file(cwd)
        e.last_fd, e.image_cputype, e.image_cpusubtype = last_fd, cputype, cpusubtype
        return self.exec_lists(m, args, env, fds)

    def open(self, path="/tmp/f", fflag=1, **kw):
        m = self.message("open", **kw)
        m.event.open.fflag = fflag
        m.event.open.file = self.file(path)
        return m

    def write(self, path="/tmp/f", **kw):
        m = self.message("write", **kw)
        m.event.write.target = self.file(path)
        return m


class RawClient:
    """An esf client without a Source: deliver one message, drain its line."""

    def __init__(self, mod, shorts=None, ring_bytes: int = 8 << 20):
        self.mod, self.ffi, self.lib = mod, mod.ffi, mod.lib
        r = self.ffi.new("int *")
        self.c = self.lib.esf_client_new(ring_bytes, r)
        assert r[0] == 0
        shorts = shorts or [t.short for t in events.BY_NUMBER.values() if t.short]
        names = [self.ffi.new("char[]", s.encode()) for s in shorts]
        rc = self.lib.esf_subscribe(self.c, self.ffi.new("uint32_t[]", [events.number_of(s) for s in shorts]),
                                    self.ffi.new("char *[]", names), len(names))
        assert rc == 0
        self.cap = ring_bytes
        self.buf = self.ffi.new("char[]", self.cap)
        self.need = self.ffi.new("size_t *")
        self.es = self.lib.esf_es_client(self.c)

    def deliver(self, m) -> int:
        return self.lib.es_sim_deliver(self.es, m)

    def line(self, m) -> bytes:
        """The one line ``m`` becomes (b"" if none: e.g. a type the build cannot format)."""
        assert self.deliver(m) == 0
        assert self.lib.es_sim_wait_idle(self.es, 5000) == 0
        n = self.lib.esf_drain(self.c, self.buf, self.cap, 10, 0, self.need)
        return self.ffi.buffer(self.buf, n)[:]

    def stats(self):
        s = self.ffi.new("esf_stats *")
        self.lib.esf_get_stats(self.c, s)
        return s

    def close(self) -> int:
        return self.lib.esf_client_delete(self.c)

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        assert self.close() == 0
