"""`osq-esf doctor`: can live events flow here, and if not, what to do about it.

Each check says ok, FAIL (with the fix), or note.  The system facts (platform, macOS
version, euid) are gathered once into :class:`System`, so every code path -- a Mac
without Full Disk Access, a Mac without root, Linux -- can be exercised on any host
(tests drive the Mac paths with the fake eslogger and the simulated native shim).
"""

from __future__ import annotations

import os
import shutil
import socket as _socket
import stat
import subprocess
import sys
from dataclasses import dataclass

from osq_esf.sources import ESLOGGER_MACOS, NATIVE_MACOS, macos_text
from osq_esf.sources.base import SourceError

OK, WARN, FAIL, NOTE = "ok", "warn", "FAIL", "note"
LAUNCHER = "/opt/osq-esf/osq-esf.app/Contents/MacOS/osq-esf"
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
    bundled: bool = False  # running from the osq-esf.app launcher (the native source's home)

    @classmethod
    def here(cls) -> "System":
        from osq_esf.sources import macos_version

        return cls(sys.platform, macos_version(), os.geteuid(), ".app/Contents/MacOS/" in sys.executable)

    @property
    def is_mac(self) -> bool:
        return self.platform == "darwin"

    def describe(self) -> str:
        if self.is_mac:
            return macos_text(self.macos, "macOS (version unknown)")
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
                     "(`osq-esf run --source replay:PATH`, `query`, `shell`, `demo`); live events need "
                     "macOS (eslogger 13+, native 11+), so the checks below run against a test double "
                     "only if one is configured")
    if sysinfo.macos is None or sysinfo.macos < NATIVE_MACOS:
        return Check("platform", FAIL, f"{sysinfo.describe()}: live events need macOS 11 (native) or 13 (eslogger)",
                     "upgrade macOS, or replay recordings made elsewhere")
    if sysinfo.macos < ESLOGGER_MACOS:
        return Check("platform", NOTE, f"{sysinfo.describe()}: no eslogger before macOS 13; the native source "
                     "(--source native, from the signed osq-esf.app) is the live source here")
    return Check("platform", OK, f"{sysinfo.describe()}")


def check_root(sysinfo: System) -> Check:
    if sysinfo.euid == 0:
        return Check("root", OK, "running as root")
    if not sysinfo.is_mac:
        return Check("root", NOTE, "not root (only live sources on a Mac need it)")
    return Check("root", FAIL, f"running as uid {sysinfo.euid}; eslogger and the native source must run as root",
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


# es_new_client results -> (what it means, in one line; the fix).
NATIVE_REFUSALS = {
    3: ("not entitled: this executable lacks com.apple.developer.endpoint-security.client",
        f"run the signed launcher ({LAUNCHER} doctor); a plain python3 never has the entitlement"),
    4: ("no Full Disk Access for the process that starts osq-esf", PPPC_FIX),
    5: ("not root: Endpoint Security clients must run as root", "run it with sudo, or from a LaunchDaemon"),
    6: ("too many Endpoint Security clients on this Mac", "stop another ES tool, or use fewer [clients]"),
}


def _native_wanted(sysinfo: System) -> bool:
    from osq_esf.sources.native import ENV_SIM

    return sysinfo.is_mac or bool(os.environ.get(ENV_SIM))


def check_native(sysinfo: System, config) -> list[Check]:
    """Can this process be an ES client?  One line per problem: the module, es_new_client's
    verdict (entitlement, root, Full Disk Access, too many clients), what this macOS lacks.

    Problems fail the check where native is the live source: macOS 11/12 (no eslogger), or
    when run from the osq-esf.app launcher.  Elsewhere eslogger may be all that is used, so
    they are notes, with the same one-line reasons."""
    from osq_esf.sources import native

    if not _native_wanted(sysinfo):
        return [Check("native", NOTE, "needs macOS 11 or later and the signed osq-esf.app")]
    bad = FAIL if sysinfo.bundled or (sysinfo.macos is not None and sysinfo.macos < ESLOGGER_MACOS) else NOTE
    if sysinfo.macos is not None and sysinfo.macos < NATIVE_MACOS:
        return [Check("native", FAIL, f"{sysinfo.describe()} is older than macOS 11, the oldest the native "
                      "source supports", "upgrade macOS")]
    from osq_esf.sources.common import configured_clients, newer_than, split_supported

    try:
        clients = configured_clients(config, spec="native")
        module = native.load_module()
    except SourceError as e:
        return [Check("native", bad, str(e))]
    ffi, lib = module.ffi, module.lib
    result = ffi.new("int *")
    client = lib.esf_client_new(4096, result)
    if client == ffi.NULL:
        what, fix = NATIVE_REFUSALS.get(result[0], (native.explain_new_client(result[0]), ""))
        return [Check("native", bad, what, fix)]
    lib.esf_client_delete(client)
    checks = [Check("native", OK, "es_new_client succeeded: entitled, root, Full Disk Access")]
    missing = native.missing_features(lib.esf_capabilities())
    if missing:
        checks.append(Check("native features", NOTE, f"{sysinfo.describe()} has no {', '.join(missing)}: "
                            "mute rules that need them run in the pipeline only"))
    skipped = [f"{name}: {s}" for name, evs in clients.items()
               for s in split_supported(evs, newer_than(sysinfo.macos))[1]]
    if skipped:
        checks.append(Check("native events", NOTE, f"{len(skipped)} event types left out ({'; '.join(skipped)})"))
    return checks


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
    if sysinfo.is_mac and sysinfo.macos is not None and sysinfo.macos < ESLOGGER_MACOS:
        c, binary = Check("eslogger", NOTE, "eslogger came with macOS 13: use --source native"), None
    else:
        c, binary = check_eslogger(sysinfo, config)
    checks.append(c)
    if binary:
        events = check_events(binary, config)
        checks.append(events)
        if events.status == OK and (sysinfo.euid == 0 or not sysinfo.is_mac):
            checks.append(check_full_disk_access(binary, config))
        elif events.status == OK:
            checks.append(Check("full disk access", NOTE, "not checked: it needs root first"))
    checks.extend(check_native(sysinfo, config))
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
