"""Benchmark corpora: eslogger JSON Lines in the issue's mix, made fast and on demand.

The project's generator (:mod:`osq_esf.corpus`, scenario "bench") makes the mixed
corpora; single-type corpora, and mixed ones when that generator is absent, come from
a compact template builder here that writes lines in eslogger's v10 shape
(stat blocks, escaped slashes, an exec with several KB of args and env), so the
bench can run on its own.  Lines come out in time order at ``rate`` events per
second, which is what P3's ``WHERE time >= T`` needs to select exactly ~1%.
"""

from __future__ import annotations

import json
import random

# The mix: ~60% open, 25% write, 5% exec, 5% fork/exit, 1% iokit_open (sums to 96;
# the remainder is spread over the open/write share the way a busy Mac skews).
MIX = (("open", 0.62), ("write", 0.27), ("exec", 0.05), ("fork", 0.025), ("exit", 0.025), ("iokit_open", 0.01))
EVENT_TYPE = {"exec": 9, "open": 10, "fork": 11, "exit": 15, "write": 33, "iokit_open": 2}
START = 1_791_072_000  # 2026-10-04T00:00:00Z


def _esc(obj) -> bytes:
    """JSON the way eslogger writes it: compact, with ``/`` escaped."""
    return json.dumps(obj, separators=(",", ":")).replace("/", "\\/").encode()


def _stat(ino: int) -> dict:
    ts = "2026-01-01T00:00:00.000000000Z"
    return {"st_nlink": 1, "st_gid": 0, "st_mode": 33261, "st_uid": 0, "st_ino": ino, "st_ctimespec": ts,
            "st_birthtimespec": ts, "st_dev": 16777231, "st_atimespec": ts, "st_gen": 0, "st_rdev": 0,
            "st_size": 4096, "st_blocks": 8, "st_flags": 0, "st_blksize": 4096, "st_mtimespec": ts}


def _file(path: str, ino: int) -> dict:
    return {"path": path, "stat": _stat(ino), "path_truncated": False}


def _token(pid: int, pv: int, uid: int) -> dict:
    return {"euid": uid, "pid": pid, "pidversion": pv, "ruid": uid, "asid": 100001, "rgid": 0,
            "auid": 4294967295, "egid": 0}


def _process(rng: random.Random, pid: int) -> dict:
    name = rng.choice(["mds", "Safari", "zsh", "python3", "cfprefsd", "launchd", "node", "git", "Slack", "clang"])
    path = f"/usr/libexec/{name}" if rng.random() < 0.5 else f"/Applications/{name}.app/Contents/MacOS/{name}"
    uid = rng.choice([0, 501])
    return {"original_ppid": 1, "codesigning_flags": 637618689, "start_time": "2026-10-04T00:00:01.000001Z",
            "signing_id": f"com.example.{name}", "group_id": pid, "executable": _file(path, pid),
            "audit_token": _token(pid, pid * 10, uid), "is_platform_binary": uid == 0, "tty": None,
            "cdhash": "%040X" % rng.getrandbits(160), "parent_audit_token": _token(1, 1, 0), "ppid": 1,
            "team_id": None if uid == 0 else "ABCDE12345", "session_id": pid, "cs_validation_category": 1,
            "is_es_client": False, "responsible_audit_token": _token(pid, pid * 10, uid)}


def _exec_event(rng: random.Random, target: dict) -> dict:
    # RUNID is replaced per event, so no two command lines are equal (the env repeats, as a session's does)
    args = [target["executable"]["path"], "--run-id=RUNID"] + [f"--option-{i}=value-{rng.getrandbits(32):x}" for i in range(rng.randint(2, 12))]
    env = [f"VAR_{i}=/Users/someone/Library/Application Support/thing/{rng.getrandbits(48):x}" for i in range(40)]
    return {"target": target, "script": None, "dyld_exec_path": target["executable"]["path"],
            "cwd": {"path": "/Users/someone", "path_truncated": False, "stat": {}}, "last_fd": 2,
            "image_cputype": 16777228, "image_cpusubtype": 2, "args": args, "fds": [], "env": env}


def _template_lines(events: int, seed: int, rate: int, only: str | None):
    rng = random.Random(seed)
    procs = [_esc(_process(rng, 400 + i)) for i in range(300)]
    dirs = ["/Users/someone/Library/Caches/com.example", "/private/var/folders/xy/T", "/System/Library/Frameworks",
            "/Users/someone/src/project/build", "/Library/Preferences"]
    files = [_esc(_file(f"{rng.choice(dirs)}/file-{i}.dat", 5000 + i)) for i in range(5000)]
    execs = [_esc(_exec_event(rng, _process(rng, 5000 + i))) for i in range(200)]
    weights = [w for _, w in MIX]
    kinds = [k for k, _ in MIX]
    seq = dict.fromkeys(EVENT_TYPE, 0)
    step = 1_000_000_000 // rate
    t_ns = 0
    picks = [only] * events if only else rng.choices(kinds, weights, k=events)
    for gseq, kind in enumerate(picks):
        t_ns += step
        sec, ns = divmod(t_ns, 1_000_000_000)
        stamp = b"2026-10-04T%02d:%02d:%02d.%09dZ" % (sec // 3600 % 24, sec // 60 % 60, sec % 60, ns)
        if sec >= 86400:
            stamp = b"2026-10-%02dT" % (4 + sec // 86400) + stamp[11:]
        if kind == "open":
            event = b'{"open":{"fflag":%d,"file":%s}}' % (rng.choice((1, 1, 3, 0x201)), rng.choice(files))
        elif kind == "write":
            event = b'{"write":{"target":%s}}' % rng.choice(files)
        elif kind == "exec":
            event = b'{"exec":%s}' % rng.choice(execs).replace(b"RUNID", b"%d" % gseq, 1)
        elif kind == "fork":
            event = b'{"fork":{"child":%s}}' % rng.choice(procs)
        elif kind == "exit":
            event = b'{"exit":{"stat":%d}}' % rng.choice((0, 256, 9))
        else:
            event = b'{"iokit_open":{"user_client_type":0,"user_client_class":"IOHIDLibUserClient","parent_registry_id":4294968000,"parent_path":"IOService:/AppleARMPE"}}'
        seq[kind] += 1
        yield (b'{"action_type":1,"event_type":%d,"mach_time":%d,"seq_num":%d,"process":%s,"version":10,'
               b'"event":%s,"time":"%s","schema_version":1,"global_seq_num":%d,"thread":{"thread_id":%d},'
               b'"action":{"result":{"result":{"auth":0},"result_type":0}}}\n') % (
            EVENT_TYPE[kind], t_ns, seq[kind], rng.choice(procs), event, stamp, gseq, 900000 + gseq % 64)


def _project_generator():
    try:
        from osq_esf.corpus import generate
    except ImportError:
        return None
    return generate


def lines(events: int, seed: int = 1, rate: int = 5000, only: str | None = None):
    """An iterator of ``events`` newline-terminated lines.

    Mixed corpora come from the project's generator (scenario "bench") when it is
    installed; ``only`` (one event type, for P2-P4) always uses the templates here,
    since filtering the mix for a 1% type would mean generating 100 times as much.
    """
    generate = _project_generator()
    if only is None and generate is not None:
        return iter(generate("bench", events=events, seed=seed, rate=rate))
    return _template_lines(events, seed, rate, only)


def source_name() -> str:
    mixed = "osq_esf.corpus scenario 'bench'" if _project_generator() else "bench/corpus.py templates"
    return f"mixed: {mixed}; single-type (P2-P4): bench/corpus.py templates (eslogger v10 shape)"
