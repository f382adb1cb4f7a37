"""`osq-esf doctor`: can live events flow here, and if not, what to do about it.

Each check says ok, FAIL (with the fix), or note.  The system facts (platform, macOS
version, euid) are gathered once into :class:`System`, so every code path -- a Mac
without Full Disk Access, a Mac without root, Linux -- can be exercised on any host
(tests drive the Mac paths with the fake eslogger).
"""

from __future__ import annotations

import os
import shutil
import socket as _socket
import stat
import subprocess
import sys
from dataclasses import dataclass

from osq_esf.sources.base import SourceError

OK, WARN, FAIL, NOTE = "ok", "warn", "FAIL", "note"
SOCKETS = ("/var/osquery/osquery.em", "/opt/orbit/orbit-osquery.em")
PPPC_FIX = ("grant Full Disk Access to the process that starts osq-esf: under osqueryd or orbit, to "
            "that daemon (an MDM PPPC profile with SystemPolicyAllFiles for its code requirement, from "
            "`codesign -dr - /path/to/osqueryd`); run by hand, to the Terminal app in System Settings > "
            "Privacy & Security > Full Disk Access; then restart it")


@dataclass(frozen=True)
class System:
    platform: str
    macos: tuple[int, ...] | None
    euid: int

    @classmethod
    def here(cls) -> "System":
        from osq_esf.sources import macos_version

        return cls(sys.platform, macos_version(), os.geteuid())

    @property
    def is_mac(self) -> bool:
        return self.platform == "darwin"

    def describe(self) -> str:
        if self.is_mac:
            return "macOS " + ".".join(map(str, self.macos)) if self.macos else "macOS (version unknown)"
        return self.platform


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def check_platform(sysinfo: System) -> Check:
    if not sysinfo.is_mac:
        return Check("platform", NOTE, f"{sysinfo.describe()}: replaying recordings works here "
                     "(`osq-esf run --source replay:PATH`, `query`, `shell`, `demo`); live events "
                     "(eslogger, native) need macOS 13 or later, so the checks below run against a "
                     "test double only if one is configured")
    if sysinfo.macos is None or sysinfo.macos < (13,):
        return Check("platform", FAIL, f"{sysinfo.describe()}: eslogger needs macOS 13 (Ventura) or later",
                     "upgrade macOS, or replay recordings made elsewhere")
    return Check("platform", OK, f"{sysinfo.describe()}")


def check_root(sysinfo: System) -> Check:
    if sysinfo.euid == 0:
        return Check("root", OK, "running as root")
    if not sysinfo.is_mac:
        return Check("root", NOTE, "not root (only eslogger on a Mac needs it)")
    return Check("root", FAIL, f"running as uid {sysinfo.euid}; eslogger must run as root",
                 "run `sudo osq-esf doctor`; osqueryd runs its extensions as root")


def check_config(path: str | None):
    """(Check, config or None)."""
    from osq_esf.config import ConfigError, load_config_file

    if not path:
        return Check("config", OK, "no --config: built-in defaults"), None
    try:
        cfg = load_config_file(path)
    except ConfigError as e:
        return Check("config", FAIL, str(e), "fix the named key (docs/configuration.md)"), None
    return Check("config", OK, f"{path} is valid"), cfg


def check_eslogger(sysinfo: System, config) -> tuple[Check, str | None]:
    from osq_esf.sources.eslogger import resolve_binary

    if not sysinfo.is_mac and not _double_configured(config):
        return Check("eslogger", NOTE, "no eslogger on this system (it is Apple's, macOS 13+)"), None
    try:
        binary = resolve_binary(config)
    except SourceError as e:
        return Check("eslogger", FAIL, str(e), "on macOS 13+ it is /usr/bin/eslogger; remove a wrong "
                     "[eslogger] binary from the config"), None
    what = "" if sysinfo.is_mac else " (a test double: this is not a Mac)"
    return Check("eslogger", OK, f"{binary}{what}"), binary


def _double_configured(config) -> bool:
    from osq_esf.sources.eslogger import ENV_BINARY

    return bool(getattr(getattr(config, "eslogger", None), "binary", None) or os.environ.get(ENV_BINARY)
                or shutil.which("eslogger"))  # off macOS, an eslogger on PATH is a test double


def check_events(binary: str, config) -> Check:
    from osq_esf.sources.common import configured_clients, listed_in, split_supported
    from osq_esf.sources.eslogger import list_events, os_description

    try:
        clients = configured_clients(config)
        known = list_events(binary)
    except SourceError as e:
        return Check("events", FAIL, str(e), "drop the event from [clients]")
    skipped = []
    for name, evs in clients.items():
        skipped += [f"{name}: {s}" for s in split_supported(evs, listed_in(known, os_description()))[1]]
    desc = "; ".join(f"{n}: {' '.join(evs)}" for n, evs in clients.items())
    if skipped:
        return Check("events", WARN, f"{len(skipped)} event types will be left out ({'; '.join(skipped)})",
                     "they came with a newer macOS; es_sources.skipped lists them at run time")
    return Check("events", OK, f"{len(clients)} clients, all events known ({desc})")


def check_full_disk_access(binary: str, config, wait: float = 1.5) -> Check:
    """Start eslogger for a moment: ES refuses a client without FDA at once, with an error."""
    from osq_esf.sources.common import configured_clients
    from osq_esf.sources.eslogger import explain

    first = next(iter(configured_clients(config).values()))[:1] or ["exit"]
    try:
        proc = subprocess.Popen([binary, *first], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return Check("full disk access", FAIL, f"cannot start {binary}: {e}")
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        pass
    running = proc.poll() is None
    if running:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if running:
        return Check("full disk access", OK, f"`eslogger {first[0]}` started and kept running")
    text = err.decode("utf-8", "replace").strip()
    why = explain(text)
    if why and "Full Disk Access" in why:
        return Check("full disk access", FAIL, f"eslogger refused: {text}", PPPC_FIX)
    return Check("full disk access", FAIL, f"eslogger exited with status {proc.returncode}: {text or 'no message'}",
                 why or "run the same command by hand to see why")


def check_socket(path: str | None) -> Check:
    candidates = [path] if path else [p for p in SOCKETS if os.path.exists(p)]
    if not candidates:
        return Check("osquery socket", NOTE, f"none of {', '.join(SOCKETS)} exists: osquery is not running "
                     "here, or uses another --extensions_socket",
                     "start osqueryd, or pass --socket PATH; without osquery use `osq-esf query`/`shell`")
    p = candidates[0]
    try:
        if not stat.S_ISSOCK(os.stat(p).st_mode):
            return Check("osquery socket", FAIL, f"{p} is not a socket", "pass osquery's --extensions_socket path")
        s = _socket.socket(_socket.AF_UNIX)
        s.settimeout(2)
        try:
            s.connect(p)
        finally:
            s.close()
    except OSError as e:
        return Check("osquery socket", FAIL, f"{p}: {e.strerror or e}",
                     "is osqueryd running (with extensions enabled) and are you root?")
    return Check("osquery socket", OK, f"{p} accepts connections")


def run_checks(config_path: str | None = None, socket_path: str | None = None,
               sysinfo: System | None = None) -> list[Check]:
    sysinfo = sysinfo or System.here()
    checks = [check_platform(sysinfo), check_root(sysinfo)]
    c, config = check_config(config_path)
    checks.append(c)
    c, binary = check_eslogger(sysinfo, config)
    checks.append(c)
    if binary:
        events = check_events(binary, config)
        checks.append(events)
        if events.status == OK and (sysinfo.euid == 0 or not sysinfo.is_mac):
            checks.append(check_full_disk_access(binary, config))
        elif events.status == OK:
            checks.append(Check("full disk access", NOTE, "not checked: it needs root first"))
    checks.append(check_socket(socket_path))
    return checks


def render(checks: list[Check], sysinfo: System | None = None) -> str:
    sysinfo = sysinfo or System.here()
    out = [f"osq-esf doctor on {sysinfo.describe()}"]
    width = max(len(c.name) for c in checks)
    for c in checks:
        out.append(f"  {c.status:4}  {c.name:{width}}  {c.detail}")
        if c.fix and c.status != OK:
            out.append(f"  {'':4}  {'':{width}}  fix: {c.fix}")
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        out.append(f"{len(failed)} problem{'s' if len(failed) > 1 else ''}: {', '.join(failed)}")
    elif sysinfo.is_mac:
        out.append("ready for live events: osqueryd can autoload osq-esf (or run `osq-esf run --socket ...`)")
    else:
        out.append("nothing blocks replay here; live events need a Mac")
    return "\n".join(out) + "\n"


def main(config_path: str | None, socket_path: str | None) -> int:
    sysinfo = System.here()
    checks = run_checks(config_path, socket_path, sysinfo)
    sys.stdout.write(render(checks, sysinfo))
    return 1 if any(c.status == FAIL for c in checks) else 0
