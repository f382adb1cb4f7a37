"""The ``bench`` scenario: a realistic high-volume mix from a machine that has been up for hours."""

from __future__ import annotations

import itertools
from typing import Iterator

from osq_esf.corpus.every_type import Cast, other_event
from osq_esf.corpus.scenarios import (
    ALICE, GUI_ASID, HOME, METADATA, SAFARI, TERMINAL, WEBKIT_XPC, hex_id, last_command, shell_env, tty_fds, uuid_of,
)
from osq_esf.corpus.userspace import USERSPACE_EVENTS
from osq_esf.corpus.world import FAPPEND, FREAD, FWRITE, GID_STAFF, GID_TTY, O_CLOEXEC, O_CREAT, O_TRUNC, TMPDIR, Mac, Proc

# The mix from the brief: ~60% open, 25% write, 5% exec, 5% fork/exit, 1% iokit_open, rest others.
# The mix of the P1 brief (~60% open, 25% write, 5% exec, 5% fork/exit, 1% iokit_open), with
# close and mmap as frequent as a Mac sends them to a client subscribed to both, and "other":
# the rest of the 104 NOTIFY types (OTHER_MIX).
BENCH_MIX = (("open", 0.590), ("write", 0.215), ("close", 0.070), ("exec", 0.050), ("fork", 0.025), ("exit", 0.025),
             ("mmap", 0.020), ("other", 0.012), ("iokit_open", 0.010), ("create", 0.005), ("rename", 0.004),
             ("unlink", 0.004), ("mprotect", 0.002), ("signal", 0.001), ("setmode", 0.001))
# Relative volumes inside "other", drawn from the types scenario's examples: lookups and
# process-info checks are common, attribute changes and sockets less so, the events daemons
# report (logins, sudo, BTM, TCC, OD...) rare: a few in 100 000 messages each (more often than on
# a real Mac).  The first "other" draws go through every type once, so that any run of more than
# ~8 000 messages holds every NOTIFY type.
_RARE = 0.5
OTHER_MIX: dict[str, float] = {
    "stat": 20, "lookup": 15, "readlink": 10, "getattrlist": 10, "access": 8, "getextattr": 6, "readdir": 5,
    "fcntl": 4, "fsgetpath": 3, "dup": 3, "listextattr": 3, "chdir": 2,
    "get_task_name": 6, "proc_check": 6, "proc_suspend_resume": 2, "get_task_read": 1, "get_task_inspect": _RARE,
    "get_task": _RARE, "trace": _RARE, "remote_thread_create": _RARE, "cs_invalidated": _RARE,
    "xpc_connect": 3, "uipc_connect": 2, "uipc_bind": _RARE, "setextattr": 2, "setattrlist": 2, "utimes": 2,
    "clone": 1, "deleteextattr": _RARE, "setflags": _RARE, "setowner": _RARE, "setacl": _RARE, "link": _RARE,
    "copyfile": _RARE, "exchangedata": _RARE, "truncate": _RARE, "pty_grant": _RARE, "pty_close": _RARE,
    "setuid": _RARE, "setgid": _RARE, "seteuid": _RARE, "setegid": _RARE, "setreuid": _RARE, "setregid": _RARE,
    "mount": _RARE, "unmount": _RARE, "remount": _RARE, "kextload": _RARE, "kextunload": _RARE, "settime": _RARE,
    "chroot": _RARE, "searchfs": _RARE, "file_provider_materialize": _RARE, "file_provider_update": _RARE,
    **{t: _RARE for t in USERSPACE_EVENTS if not t.startswith("file_provider_")},
}
IOKIT_CLASSES = ("IOHIDLibUserClient", "AppleUpstreamUserClient", "IOSurfaceRootUserClient", "AGXDeviceUserClient",
                 "AppleKeyStoreUserClient", "RootDomainUserClient", "IOAudio2DeviceUserClient",
                 "AppleMultitouchDeviceUserClient", "AppleSEPUserClient", "IOPMPowerSourceClient")
# (what the shell runs, the binary it hands over to or None, signing id): Apple's tools.
BENCH_TOOLS = (
    ("/usr/bin/git", "/Library/Developer/CommandLineTools/usr/bin/git", "com.apple.git"),
    ("/usr/bin/clang", "/Library/Developer/CommandLineTools/usr/bin/clang", "com.apple.clang"),
    ("/usr/bin/python3", "/Library/Developer/CommandLineTools/Library/Frameworks/Python3.framework/Versions/3.9/"
                         "Resources/Python.app/Contents/MacOS/Python", "com.apple.python3"),
    ("/usr/bin/xcrun", "/Library/Developer/CommandLineTools/usr/bin/swift-frontend", "com.apple.swift-frontend"),
    ("/usr/bin/make", "/Library/Developer/CommandLineTools/usr/bin/make", "com.apple.make"),
    ("/bin/ls", None, "com.apple.ls"), ("/usr/bin/grep", None, "com.apple.grep"), ("/bin/cat", None, "com.apple.cat"),
    ("/usr/bin/sed", None, "com.apple.sed"), ("/usr/bin/awk", None, "com.apple.awk"),
    ("/usr/sbin/sysctl", None, "com.apple.sysctl"), ("/usr/bin/defaults", None, "com.apple.defaults"),
    ("/usr/bin/plutil", None, "com.apple.plutil"), ("/usr/bin/osascript", None, "com.apple.osascript"),
    ("/bin/sh", None, "com.apple.sh"), ("/usr/bin/env", None, "com.apple.env"),
)
BENCH_THIRD_PARTY = (
    ("/opt/homebrew/Cellar/node/22.9.0/bin/node", "node", None, "adhoc"),
    ("/opt/homebrew/Cellar/ripgrep/14.1.1/bin/rg", "rg", None, "adhoc"),
    ("/opt/homebrew/Cellar/jq/1.7.1/bin/jq", "jq", None, "adhoc"),
    ("/Applications/Docker.app/Contents/Resources/bin/docker", "com.docker.docker", "9BNSXJN65R", "devid"),
    ("/usr/local/bin/terraform", "terraform", "EXAMPLE7QX", "devid"),
)


def _bench_paths(rng) -> dict[str, list[str]]:
    """Thousands of distinct paths, grouped by who touches them."""
    projects = ("osq-demo", "web-frontend", "payments-api", "infra", "ml-notebooks", "dotfiles")
    exts = ("ts", "tsx", "js", "json", "py", "go", "rs", "swift", "md", "yaml", "lock", "toml", "h", "c")
    dev = [f"{HOME}/src/{rng.choice(projects)}/{rng.choice(('src', 'lib', 'tests', 'cmd', 'internal', 'app'))}/"
           f"{rng.choice(('core', 'api', 'util', 'models', 'views', 'handlers', 'db'))}/"
           f"{hex_id(rng, 6).lower()}_{rng.randint(0, 99)}.{rng.choice(exts)}" for _ in range(1800)]
    dev += [f"{HOME}/src/web-frontend/node_modules/{rng.choice(('react', 'lodash', '@babel/core', 'typescript', 'webpack', 'eslint', '@types/node', 'vite', 'zod', 'rxjs'))}/"
            f"{rng.choice(('dist', 'lib', 'cjs', 'esm', 'build'))}/{hex_id(rng, 5).lower()}.js" for _ in range(1500)]
    spotlight = [f"/private/var/db/Spotlight-V100/BootVolume/Store-V2/9D3B2C61-0F7E-4A8B-B3C2-71E5D0A4F9C8/{n}"
                 for n in ("0.indexHead", "0.indexIds", "0.indexPostings", "live.0.indexHead", "store.db", ".store.db",
                           "journalAttr.3", "0.indexPositions", "0.indexTermIds", "tmp.spotlight.state")]
    spotlight += [f"{HOME}/Library/Metadata/CoreSpotlight/index.spotlightV3/{hex_id(rng, 8)}.{i}" for i in range(300)]
    logd = [f"/private/var/db/diagnostics/Persist/{0x12A + i:016X}.tracev3" for i in range(12)]
    logd += [f"/private/var/db/uuidtext/{hex_id(rng, 2)}/{hex_id(rng, 30)}" for _ in range(400)]
    prefs = [f"{HOME}/Library/Preferences/com.{rng.choice(('apple', 'google', 'microsoft', 'jetbrains', 'docker', 'tinyspeck'))}."
             f"{hex_id(rng, 4).lower()}.plist" for _ in range(250)]
    prefs += [f"/Library/Preferences/com.apple.{n}.plist" for n in ("loginwindow", "security", "TimeMachine", "alf",
                                                                     "Bluetooth", "SoftwareUpdate", "apsd", "windowserver")]
    caches = [f"{HOME}/Library/Caches/{rng.choice(('com.apple.Safari', 'com.apple.WebKit.Networking', 'com.tinyspeck.slackmacgap', 'Google/Chrome/Default', 'com.microsoft.VSCode.ShipIt', 'pip', 'Homebrew/downloads'))}/"
              f"fsCachedData/{uuid_of(rng)}" for _ in range(900)]
    system = [f"/System/Library/Frameworks/{rng.choice(('AppKit', 'Foundation', 'CoreData', 'Security', 'Metal', 'CoreML', 'WebKit', 'SwiftUI'))}"
              f".framework/Versions/{rng.choice(('A', 'C'))}/Resources/{hex_id(rng, 6).lower()}.{rng.choice(('plist', 'strings', 'nib', 'car', 'metallib'))}" for _ in range(500)]
    system += [f"/usr/lib/lib{n}.dylib" for n in ("System.B", "c++.1", "objc.A", "sqlite3", "z.1", "xml2.2", "icucore.A")]
    tmp = [f"/private{TMPDIR}/{rng.choice(('TemporaryItems', 'com.apple.dt.Xcode', 'node-compile-cache', 'pip-build', 'go-build'))}/"
           f"{hex_id(rng, 10).lower()}" for _ in range(500)]
    docs = [f"{HOME}/{rng.choice(('Documents', 'Downloads', 'Desktop'))}/{rng.choice(('report', 'invoice', 'photo', 'notes', 'Résumé', 'スクリーンショット', 'draft'))} "
            f"{rng.randint(1, 400)}.{rng.choice(('pdf', 'png', 'docx', 'txt', 'key', 'heic'))}" for _ in range(300)]
    return {"dev": dev, "spotlight": spotlight, "logd": logd, "prefs": prefs, "caches": caches, "system": system,
            "tmp": tmp, "docs": docs}


def bench(mac: Mac, events: int) -> Iterator[None]:
    """``events`` messages in BENCH_MIX proportions from a machine that has been up for hours."""
    rng = mac.rng
    pools = _bench_paths(rng)
    all_paths = [p for ps in pools.values() for p in ps]
    # The long-lived processes, already running when the recording starts (no fork/exec seen).
    mac.next_pid, mac.next_pidversion = 41_200, 152_000
    long_lived: list[tuple[Proc, float, list[str]]] = []

    def existing(path: str, sid: str, weight: float, pool: list[str], uid: int = ALICE, team=None, kind="platform",
                 threads: int = 4, label: str | None = None) -> Proc:
        img = mac.image(path, sid, team, kind)
        if uid == ALICE:
            p = mac.running(img, uid=ALICE, gid=GID_STAFF, asid=GUI_ASID, threads=threads, label=label)
        else:
            p = mac.running(img, uid=uid, threads=threads, label=label)
        long_lived.append((p, weight, pool))
        return p

    existing(METADATA + "mds_stores", "com.apple.mds_stores", 14, pools["spotlight"], uid=0)
    existing(METADATA + "mds", "com.apple.mds", 4, pools["spotlight"], uid=0)
    for _ in range(3):
        existing(METADATA + "mdworker_shared", "com.apple.mdworker_shared", 3, pools["docs"] + pools["dev"])
    existing("/usr/libexec/logd", "com.apple.logd", 10, pools["logd"], uid=0)
    existing("/usr/sbin/cfprefsd", "com.apple.cfprefsd", 6, pools["prefs"], uid=0)
    existing("/usr/sbin/cfprefsd", "com.apple.cfprefsd", 8, pools["prefs"])
    existing("/usr/libexec/runningboardd", "com.apple.runningboardd", 3, pools["tmp"], uid=0)
    existing("/System/Library/CoreServices/Spotlight.app/Contents/MacOS/Spotlight", "com.apple.Spotlight", 4,
             pools["caches"] + pools["spotlight"])
    existing("/System/Library/PrivateFrameworks/SkyLight.framework/Versions/A/Resources/WindowServer",
             "com.apple.WindowServer", 2, pools["system"], uid=88)
    existing(SAFARI, "com.apple.Safari", 4, pools["caches"])
    existing(WEBKIT_XPC.format("com.apple.WebKit.Networking"), "com.apple.WebKit.Networking", 6, pools["caches"])
    for _ in range(4):
        existing(WEBKIT_XPC.format("com.apple.WebKit.WebContent"), "com.apple.WebKit.WebContent", 2, pools["system"])
    existing("/Applications/Slack.app/Contents/MacOS/Slack", "com.tinyspeck.slackmacgap", 3, pools["caches"],
             team="EXAMPLESLK", kind="devid")
    existing("/Applications/Visual Studio Code.app/Contents/Frameworks/Code Helper (Plugin).app/Contents/MacOS/Code Helper (Plugin)",
             "com.microsoft.VSCode.helper.plugin", 8, pools["dev"], team="EXAMPLEVSC", kind="devid")
    existing("/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder", "com.apple.finder", 2, pools["docs"])
    for name in ("fseventsd", "opendirectoryd", "trustd", "syspolicyd", "bird", "cloudd", "nsurlsessiond", "sharingd",
                 "distnoted", "lsd", "tccd", "powerd", "bluetoothd", "airportd", "configd", "notifyd"):
        existing(f"/usr/libexec/{name}", f"com.apple.{name}", 0.5, pools["system"] + pools["prefs"],
                 uid=0 if name in ("fseventsd", "opendirectoryd", "syspolicyd", "powerd", "configd", "notifyd") else ALICE)
    terminal = existing(TERMINAL, "com.apple.Terminal", 1, pools["prefs"])
    tty = mac.file("/dev/ttys001", mode=0o20620, uid=ALICE, gid=GID_TTY, size=0)
    shells = []
    for i in range(3):
        sh = existing("/bin/zsh", "com.apple.zsh", 0.5, pools["dev"], threads=1)
        sh.parent, sh.ppid, sh.original_ppid = terminal, terminal.pid, terminal.pid
        sh.tty, sh.cwd = tty, mac.dir(f"{HOME}/src/" + ("osq-demo", "web-frontend", "payments-api")[i])
        sh.resp_token = terminal.token()
        sh.env = shell_env("/dev/ttys001", sh.cwd.path)
        shells.append(sh)
    launchers = shells + [mac.launchd]
    cast = Cast(mac)  # who does the "other" events
    other_names, other_weights = list(OTHER_MIX), list(itertools.accumulate(OTHER_MIX.values()))
    first_others = list(reversed(other_names))
    procs = [p for p, _, _ in long_lived]
    cum_weights = list(itertools.accumulate(w for _, w, _ in long_lived))
    pool_of = {id(p): pool for p, _, pool in long_lived}
    jobs: list[Proc] = []
    plans: dict[int, list] = {}
    third = [mac.image(path, sid, team, kind) for path, sid, team, kind in BENCH_THIRD_PARTY]
    mdworker = mac.image(METADATA + "mdworker_shared", "com.apple.mdworker_shared")
    temp_files: list[str] = []

    random = rng.random

    def actor() -> Proc:
        if jobs and random() < 0.15:
            return jobs[int(random() * len(jobs))]
        return rng.choices(procs, cum_weights=cum_weights)[0]

    def path_for(p: Proc) -> str:
        pool = pool_of.get(id(p))
        if pool is None or random() < 0.2:
            pool = all_paths
        if random() < 0.5:  # a few hot files, a long tail
            return pool[min(int(rng.paretovariate(0.9)) - 1, len(pool) - 1)]
        return pool[int(random() * len(pool))]

    def do_fork() -> None:
        parent = launchers[rng.randrange(len(launchers))]
        child = mac.fork(parent, self_responsible=parent is mac.launchd, new_session=parent is mac.launchd,
                         new_group=parent is not mac.launchd)
        jobs.append(child)
        if parent is mac.launchd:
            label = f"com.apple.mdworker.shared.{hex_id(rng, 8)}-0000-0000-0000-000000000000"
            plans[child.pid] = [(mac.image("/usr/libexec/xpcproxy", "com.apple.xpc.proxy"), ["xpcproxy", label], ()),
                                (mdworker, [mdworker.path, "-s", "mdworker", "-c", "MDSImporterWorker", "-m",
                                            "com.apple.mdworker.shared"],
                                 (f"XPC_SERVICE_NAME={label}", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "XPC_FLAGS=0x1"))]
        else:
            plans[child.pid] = _tool_plan(mac, rng, third, parent)

    def do_exec() -> bool:
        for j in jobs:  # the oldest job with something left to exec
            plan = plans.get(j.pid)
            if plan:
                img, args, env = plan.pop(0)
                mac.exec(j, img, args, env or j.env, fds=tty_fds(rng.choice((0, 0, 3, 10))))
                return True
        return False

    def do_exit() -> bool:
        for i, j in enumerate(jobs):  # the oldest job that has run its plan
            if j.execs and not plans.get(j.pid):
                del jobs[i]
                plans.pop(j.pid, None)
                r = rng.random()
                mac.exit(j, 0 if r < 0.85 else 1, signal=15 if r > 0.98 else 0)
                return True
        return False

    names = [n for n, _ in BENCH_MIX]
    cum = [w for _, w in BENCH_MIX]
    ops = rng.choices(names, cum, k=1024)
    k = 0
    while mac.emitted < events:
        if k == len(ops):
            ops, k = rng.choices(names, cum, k=1024), 0
            yield
        op = ops[k]
        k += 1
        if op == "open":
            p = actor()
            mac.open(p, path_for(p), rng.choice((FREAD, FREAD | O_CLOEXEC, FREAD | O_CLOEXEC, FREAD | FWRITE,
                                                 FWRITE | O_CREAT | O_TRUNC, FWRITE | FAPPEND, FREAD | 0x4)))
        elif op == "write":
            p = actor()
            mac.write(p, path_for(p), rng.choice((512, 4096, 8192, 65536)))
        elif op == "close":
            p = actor()
            mac.close(p, path_for(p), modified=rng.random() < 0.4, mapped_writable=rng.random() < 0.05)
        elif op == "exec":
            if not do_exec():
                do_fork()
        elif op == "fork":
            if len(jobs) < 64 or not do_exit():  # keep the process table bounded
                do_fork()
        elif op == "exit":
            if not do_exit() and not do_exec():
                do_fork()
        elif op == "iokit_open":
            p = actor()
            mac.iokit_open(p, rng.choice(IOKIT_CLASSES), rng.choice((0, 0, 1, 2)), 0x1000_0000 + rng.getrandbits(16),
                           f"IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/{rng.choice(('dcp', 'ans', 'mtp', 'sep', 'aop', 'gfx'))}@{hex_id(rng, 8)}")
        elif op == "create":
            p = actor()
            path = f"/private{TMPDIR}/TemporaryItems/NSIRD_{p.image.path.rsplit('/', 1)[-1]}_{hex_id(rng, 6)}/tmp.{hex_id(rng, 8).lower()}"
            mac.create(p, path, 0o644)
            temp_files.append(path)
        elif op == "rename":
            p = actor()
            if temp_files:
                src = temp_files.pop(rng.randrange(len(temp_files)))
                mac.rename(p, src, path_for(p))
            else:
                src = path_for(p)
                mac.rename(p, src, src + ".bak")
        elif op == "unlink":
            p = actor()
            mac.unlink(p, temp_files.pop() if temp_files else path_for(p))
        elif op == "mmap":
            p = actor()
            mac.mmap(p, rng.choice(pools["system"]), protection=rng.choice((1, 3, 5)), max_protection=7,
                     flags=rng.choice((0x1, 0x2, 0x12)), file_pos=rng.getrandbits(12) * 0x4000)
        elif op == "mprotect":
            p = actor()
            mac.mprotect(p, 0x1_0000_0000 + rng.getrandbits(30) * 0x4000, 0x4000 * rng.randint(1, 256), rng.choice((1, 3, 5)))
        elif op == "signal":
            if jobs:
                target = jobs[rng.randrange(len(jobs))]
                sender = target.parent if target.parent is not None and target.parent is not mac.launchd else terminal
                mac.signal(sender, target, rng.choice((2, 15, 1, 30)))
            else:
                mac.signal(mac.launchd, procs[rng.randrange(len(procs))], 30)
        elif op == "other":
            other_event(cast, first_others.pop() if first_others else
                        rng.choices(other_names, cum_weights=other_weights)[0])
        elif op == "setmode":
            p = actor()
            mac.setmode(p, path_for(p), rng.choice((0o644, 0o600, 0o755)))
    yield


def _tool_plan(mac: Mac, rng, third: list, parent: Proc) -> list:
    """What a shell child execs: a shim then the real tool (xcrun-style), or one binary."""
    env = last_command(parent.env, "/usr/bin/env") if parent.env else ()
    env_tool = mac.image("/usr/bin/env", "com.apple.env")
    if rng.random() < 0.25:  # a "#!/usr/bin/env node" script: env, then the interpreter
        img = third[rng.randrange(len(third))]
        name = img.path.rsplit("/", 1)[-1]
        args = _args(rng, name)
        return [(env_tool, ["/usr/bin/env", name] + args, env), (img, [name] + args, env)]
    shim, real, sid = BENCH_TOOLS[rng.randrange(len(BENCH_TOOLS))]
    name = shim.rsplit("/", 1)[-1]
    args = [name] + _args(rng, name)
    plan = [(mac.image(shim, sid), args, env)]
    if real:  # an xcrun-style shim hands over to the real tool
        plan.append((mac.image(real, sid), [real] + args[1:], env + ("SDKROOT=/Library/Developer/CommandLineTools/SDKs/MacOSX.sdk",)))
    elif rng.random() < 0.6:
        plan.insert(0, (env_tool, ["/usr/bin/env"] + args, env))
    return plan


def _args(rng, name: str) -> list[str]:
    src = f"{HOME}/src/payments-api"
    if name in ("clang", "xcrun"):  # compiler lines are long
        return (["-cc1", "-triple", "arm64-apple-macosx15.0.0", "-emit-obj", "-O2", "-fno-omit-frame-pointer"]
                + [f"-I{src}/include/{hex_id(rng, 4).lower()}" for _ in range(rng.randint(10, 40))]
                + [f"-D{hex_id(rng, 6)}=1" for _ in range(rng.randint(2, 12))]
                + ["-o", f"/private{TMPDIR}/{hex_id(rng, 8).lower()}.o", f"{src}/src/{hex_id(rng, 6).lower()}.c"])
    if name == "git":
        return rng.choice((["status", "--porcelain=v2", "--branch"], ["rev-parse", "--show-toplevel"],
                           ["log", "-n", "20", "--format=%H %s"], ["diff", "--cached", "--stat"],
                           ["fetch", "--prune", "origin"]))
    if name in ("node", "python3"):
        return [f"{src}/scripts/{hex_id(rng, 5).lower()}.{'js' if name == 'node' else 'py'}", "--config",
                f"{src}/config/{rng.choice(('dev', 'ci', 'prod'))}.json", "--verbose"]
    return [f"{src}/{hex_id(rng, 6).lower()}" for _ in range(rng.randint(1, 4))]
