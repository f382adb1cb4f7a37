"""Live events straight from libEndpointSecurity through the cffi shim in native/ (macOS 11+).

One ES client per ``[clients]`` group, as with eslogger: each client has its own
kernel queue and its own sequence numbers.  The C handler serialises every message to
an eslogger-shaped JSON line in a bounded ring (native/esf_shim.c); this source's
thread drains the ring in batches into the pipeline's sink, so decoding, rules,
lineage and seq-gap accounting are the same code as for eslogger and replay.  Python
is never called from ES's thread.

The process must be the signed launcher of the osq-esf app bundle, which holds the
``com.apple.developer.endpoint-security.client`` entitlement, run as root with Full
Disk Access (native/README.md); es_new_client's refusals are explained.

Path mutes that ES can apply (process path or target path, literal or prefix) are
also set on each client, so the kernel never sends those events; the pipeline still
checks every rule (docs/decisions.md, "The native source").  What the running macOS
cannot do (per-event mutes before 12, target paths and inversion before 13) stays in
the pipeline, and the source says so.  Off macOS the only way in is a simulator build
named by ``$OSQ_ESF_NATIVE_SIM`` (a directory holding it), which tests use.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import logging
import os
import time
from dataclasses import dataclass

from osq_esf import events
from osq_esf.sources import NATIVE_MACOS
from osq_esf.sources.base import BATCH, MAX_LINE, OVERSIZE_HEAD, Oversize, Source, SourceError, max_line_of
from osq_esf.sources.common import LINEAGE_EVENTS, client_sources, configured_clients, lineage_subscribed, newer_than

log = logging.getLogger(__name__)

ENV_SIM = "OSQ_ESF_NATIVE_SIM"
SHIM_VERSION = 2  # ESF_SHIM_VERSION in native/esf_shim.h
RING_BYTES = 8 << 20  # per client; a line may use up to half (exec with a 1 MiB ARG_MAX fits)
DRAIN_TIMEOUT_MS = 200  # how soon the thread notices stop() and reloaded rules
STATS_EVERY = 1.0  # seconds between looks at the shim's loss counters
MACOS_MIN = NATIVE_MACOS  # the deployment target of the shim (native/build.py MACOS_MIN)
TYPES_MAX = 256  # event type numbers the shim counts per type

# es_new_client_result_t -> what to do about it.
NEW_CLIENT_ERRORS = {
    1: "ES rejected an argument of es_new_client (a bug in the shim)",
    2: "ES had an internal error creating the client; try again later",
    3: "this executable lacks the com.apple.developer.endpoint-security.client entitlement: run "
       "/opt/osq-esf/osq-esf.app/Contents/MacOS/osq-esf, the launcher signed with the provisioning profile "
       "(native/README.md), or use --source eslogger",
    4: "not permitted: grant Full Disk Access to the process that starts osq-esf (osqueryd or orbit under "
       "osquery, else the osq-esf app bundle) with an MDM PPPC profile (SystemPolicyAllFiles), then restart it",
    5: "not privileged: Endpoint Security clients must run as root",
    6: "the system has too many Endpoint Security clients: use fewer [clients] or stop another ES tool",
}

# esf_capabilities() bits (native/esf_shim.h) and what each one's absence costs.
CAP_PATH_EVENTS, CAP_TARGET_PATHS, CAP_INVERSION = 1, 2, 4
ALL_CAPS = CAP_PATH_EVENTS | CAP_TARGET_PATHS | CAP_INVERSION
MISSING_FEATURES = ((CAP_PATH_EVENTS, "per-event path mutes (macOS 12)"),
                    (CAP_TARGET_PATHS, "target-path mutes (macOS 13)"),
                    (CAP_INVERSION, "mute inversion (macOS 13)"))
ESF_UNSUPPORTED = -2

# es_mute_path_type_t and es_mute_inversion_type_t
PATH_TYPE = {("process_path", "prefix"): 0, ("process_path", "literal"): 1,
             ("target_path", "prefix"): 2, ("target_path", "literal"): 3}
PREFIX = PATH_TYPE[("process_path", "prefix")]
INVERT_PATH, INVERT_TARGET_PATH = 1, 2
KERNEL_APPLIED = "kernel+pipeline"


def target_events() -> frozenset:
    """The event types whose table declares a target path (osq_esf.rules.mutes.getter): ES is
    told to mute target paths for these and no more."""
    from osq_esf.kinds import default_kinds

    return frozenset(k.short for k in default_kinds() if k.target)


def explain_new_client(result: int, name: str = "") -> str:
    why = NEW_CLIENT_ERRORS.get(result, "unknown es_new_client result")
    return f"es_new_client failed ({name or result}): {why}"


def missing_features(caps: int) -> list[str]:
    return [what for bit, what in MISSING_FEATURES if not caps & bit]


def _os_text() -> str:
    from osq_esf.sources import macos_text, macos_version

    return macos_text(macos_version(), "this system")


def load_module(sim_dir: str | None = None):
    """The built shim: a simulator build from ``sim_dir`` / $OSQ_ESF_NATIVE_SIM, else osq_esf._esf_native."""
    sim_dir = sim_dir or os.environ.get(ENV_SIM)
    if sim_dir:
        found = sorted(glob.glob(os.path.join(sim_dir, "_esf_native*.so")) +
                       glob.glob(os.path.join(sim_dir, "_esf_native*.pyd")))
        if not found:
            raise SourceError(f"${ENV_SIM}={sim_dir} holds no _esf_native build "
                              "(python native/build.py --simulator --out DIR)")
        spec = importlib.util.spec_from_file_location("_esf_native", found[0])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not module.lib.esf_is_simulator():
            raise SourceError(f"${ENV_SIM} must name a simulator build; {found[0]} is the real shim")
    else:
        try:
            module = importlib.import_module("osq_esf._esf_native")
        except ModuleNotFoundError:
            raise SourceError("this osq-esf has no native shim (osq_esf._esf_native): the macOS package "
                              "builds it (native/README.md); or use --source eslogger") from None
        except ImportError as e:
            if "_cffi_backend" in str(e):
                raise SourceError("osq_esf._esf_native needs cffi's runtime: install osq-esf[native]") from None
            # Present but not loadable: typically built for a newer macOS than this one.
            raise SourceError(f"osq_esf._esf_native does not load on {_os_text()}: {e}. It must be built "
                              "for macOS 11 (native/build.py sets MACOSX_DEPLOYMENT_TARGET=11.0); "
                              "reinstall the osq-esf package") from None
    if module.lib.esf_version() != SHIM_VERSION:
        raise SourceError(f"_esf_native is shim version {module.lib.esf_version()}, this osq-esf needs "
                          f"{SHIM_VERSION}: rebuild it with native/build.py")
    return module


def native_sources(sink, arg: str, spec: str, config=None, module=None) -> list["NativeSource"]:
    """One source per client; ``native:process,file`` runs only those clients.  Types newer than
    the running macOS are left out (es_subscribe would refuse them) and named in es_sources."""
    from osq_esf.sources import macos_version

    here = macos_version()
    if here is not None and here < MACOS_MIN:
        raise SourceError(f"the native source needs macOS 11 or later; this is {_os_text()}")
    clients = configured_clients(config, [a for a in arg.split(",") if a], spec)
    module = module or load_module()
    protect = frozenset(LINEAGE_EVENTS) if lineage_subscribed(config) else frozenset()
    return client_sources(clients, newer_than(here),
                          lambda name, evs: NativeSource(sink, name, evs, module, spec, protect,
                                                         max_line=max_line_of(config)),
                          "this macOS has none of its event types",
                          f"{spec}: {_os_text()} has none of the configured event types")


# -- mutes in the kernel -------------------------------------------------------------------

@dataclass(frozen=True)
class KernelMutes:
    """What one client asks ES to mute: (path, es_mute_path_type_t, event names) calls and inversion.

    Empty event names mean every event type (es_mute_path: on macOS 11 the only form)."""

    calls: tuple = ()
    invert_path: bool = False
    rules: frozenset = frozenset()  # names of the rules this covers

    @property
    def empty(self) -> bool:
        return not self.calls and not self.invert_path


def kernel_mutes(rules, client_events, protected=frozenset(), caps: int = ALL_CAPS) -> KernelMutes:
    """The part of the mute rules ES can apply for a client subscribed to ``client_events``.

    Only process-path and target-path rules with literal or prefix values map onto ES's
    path mutes (osq_esf.rules.mutes.NATIVE).  ``protected`` types (exec, fork and exit
    while lineage is on) are never muted in the kernel, because the lineage stage must
    see them even when a rule drops their rows.  For the same reason process-path
    inversion goes to the kernel only for a client with no protected type, and
    target-path inversion never does: ES's handling of events without a target under
    inversion is not documented, the pipeline's is.  ``caps`` (esf_capabilities) drops
    what the running macOS cannot do: before 12 a path is muted for every type or not
    at all, before 13 there are no target paths and no inversion.
    """
    client_events = list(client_events)
    mutable = [e for e in client_events if e not in protected]
    targets = target_events()
    inverted = {r.dimension for r in rules if r.action == "mute-unselected"}
    invert_path = ("process_path" in inverted and len(mutable) == len(client_events)
                   and bool(caps & CAP_INVERSION))
    calls, names = [], set()
    for r in rules:
        key = (r.dimension, r.match)
        if key not in PATH_TYPE or r.action == "mute-unselected":
            continue
        if r.dimension in inverted and not (r.dimension == "process_path" and invert_path):
            continue
        if r.dimension == "target_path" and not caps & CAP_TARGET_PATHS:
            continue
        types = [e for e in mutable if r.applies_to(e) and (r.dimension != "target_path" or e in targets)]
        if not types:
            continue
        if not caps & CAP_PATH_EVENTS:
            if len(types) != len(client_events):
                continue  # macOS 11 could only mute it for types the rule does not cover
            types = []
        for value in r.values:
            calls.append((value, PATH_TYPE[key], tuple(types)))
        names.add(r.name)
    if invert_path:
        names.add("invert:process_path")
    return KernelMutes(tuple(calls), invert_path, frozenset(names))


# -- the source ------------------------------------------------------------------------------

class NativeSource(Source):
    """One ES client for ``event_names``, drained by this source's thread."""

    kind = "native"
    live = True

    def __init__(self, sink, name: str, event_names: list[str], module, spec: str = "native",
                 protected=frozenset(LINEAGE_EVENTS), ring_bytes: int = RING_BYTES, max_line: int = MAX_LINE):
        super().__init__(sink, name, spec)
        self.max_line = max_line  # [input] max_line_bytes, as for the other sources
        self.event_names = list(event_names)
        self.module = module
        self.protected = frozenset(protected)
        self.ring_bytes = ring_bytes
        self.client = None  # the esf_client while running (tests reach the simulator through it)
        self.caps = ALL_CAPS
        self.kernel = KernelMutes()  # what the kernel applies of the rules
        self.kernel_ok = True
        self._wanted = None  # the plan of the rules in force, whether or not the kernel took it
        self._k_calls: set = set()  # path mutes set on the client now
        self._k_inverted = False
        self._subscribed = False
        self._rules_seen = None
        self._lost_seen = 0
        self._unformatted_seen = [0] * TYPES_MAX
        self.state.subscribed = tuple(self.event_names)
        sink.declare(name, self.event_names)

    def run(self) -> None:
        ffi, lib = self.module.ffi, self.module.lib
        result = ffi.new("int *")
        # Created here: es_delete_client must come from the creating thread.
        client = lib.esf_client_new(self.ring_bytes, result)
        if client == ffi.NULL:
            why = explain_new_client(result[0], ffi.string(lib.esf_new_client_result_name(result[0])).decode())
            log.error("client %s: %s", self.state.name, why)
            self.state.set_state("failed", why)
            return
        self.client = client
        self.caps = lib.esf_capabilities()
        try:
            self._sync_mutes()
            # Subscribing last: no event arrives before the mutes are in place.
            types = ffi.new("uint32_t[]", [events.number_of(e) for e in self.event_names])
            keep = [ffi.new("char[]", e.encode()) for e in self.event_names]
            rc = lib.esf_subscribe(client, types, ffi.new("char *[]", keep), len(keep))
            if rc != 0:
                why = ("refused by the shim (an AUTH or unknown type)" if rc == ESF_UNSUPPORTED
                       else "es_subscribe failed")
                self.state.set_state("failed", f"{why} for {', '.join(self.event_names)}")
                return
            self._subscribed = True
            self.state.set_state("running")
            self._pump(client)
        finally:
            self.client = None
            if lib.esf_client_delete(client) != 0:
                log.warning("client %s: es_delete_client failed; ES may keep the client until this process "
                            "exits (its late messages are ignored)", self.state.name)
        if self.state.state == "running":
            self.state.set_state("stopped")

    def _pump(self, client) -> None:
        ffi, lib = self.module.ffi, self.module.lib
        cap = self.ring_bytes // 2 + 8  # the longest line the ring accepts fits
        buf = ffi.new("char[]", cap)
        need = ffi.new("size_t *")
        ingest, st, drain = self.sink.ingest, self.state, lib.esf_drain
        next_stats = time.monotonic() + STATS_EVERY
        while True:
            stopping = self.stopping
            if stopping:  # unsubscribed: what is already in the ring still reaches the tables
                lib.esf_client_stop(client)
            while True:
                n = drain(client, buf, cap, BATCH, 0 if stopping else DRAIN_TIMEOUT_MS, need)
                if not n and need[0] > cap:  # a line longer than the buffer: grow it, never stall
                    cap = need[0]
                    buf = ffi.new("char[]", cap)
                    continue
                if n:
                    lines = ffi.buffer(buf, n)[:].split(b"\n")
                    lines.pop()  # the empty piece after the last newline
                    if n > self.max_line:  # some line may be over the cap: a counted decode error
                        self.deliver([Oversize(ln[:OVERSIZE_HEAD], len(ln), self.max_line)
                                      if len(ln) > self.max_line else ln for ln in lines])
                    else:
                        ingest(st, lines)
                if not (stopping and n):
                    break
            if stopping:
                break
            if self.sink.mute_rules()[0] is not self._rules_seen:
                self._sync_mutes()
            if time.monotonic() >= next_stats:
                self._check_losses(client)
                next_stats = time.monotonic() + STATS_EVERY
        self._check_losses(client)

    def stats(self) -> dict:
        """The shim's counters for this client (messages, lines, waits, losses, ring fill)."""
        client = self.client
        if client is None:
            return {}
        ffi, lib = self.module.ffi, self.module.lib
        s = ffi.new("esf_stats *")
        lib.esf_get_stats(client, s)
        return {name: getattr(s, name) for name, _ in ffi.typeof("esf_stats").fields}

    def _check_losses(self, client) -> None:
        s = self.stats()
        lost = s.get("oversize", 0) + s.get("out_of_memory", 0)
        if lost > self._lost_seen:
            self._lost_seen = lost
            self.state.last_error = (f"{s['oversize']} messages longer than half the ring and "
                                     f"{s['out_of_memory']} lost to memory were not delivered (seq gaps show them)")
            log.warning("client %s: %s", self.state.name, self.state.last_error)
        self._count_unformatted(client)

    def _count_unformatted(self, client) -> None:
        """Messages of types this build cannot format go to es_health.unformatted, per type."""
        ffi, lib = self.module.ffi, self.module.lib
        counts = ffi.new("uint64_t[]", TYPES_MAX)
        lib.esf_get_unformatted(client, counts, TYPES_MAX)
        new = [(t, counts[t] - seen) for t, seen in enumerate(self._unformatted_seen) if counts[t] > seen]
        if not new:
            return
        for t, n in new:
            self._unformatted_seen[t] += n
            self.sink.unformatted(self.state.name, events.short_name(t), n)
        names = ", ".join(events.short_name(t) for t, _ in new)
        log.warning("client %s: this build of the shim cannot format %s (an SDK older than the type?); "
                    "counted in es_health.unformatted, no rows", self.state.name, names)

    # -- kernel mutes ---------------------------------------------------------------------------

    def _sync_mutes(self) -> None:
        """Bring the client's kernel mutes to the rules in force (at start and after each reload)."""
        rules, active = self.sink.mute_rules()
        self._rules_seen = rules
        plan = kernel_mutes(active, self.event_names, self.protected, self.caps)
        if plan != self._wanted:
            self._wanted = plan
            self.kernel, self.kernel_ok = self._apply(plan)
            self._say_what_is_missing(active)
        if self.kernel.rules and self.kernel_ok:
            self.sink.mark_applied(rules, self.kernel.rules, KERNEL_APPLIED)

    def _say_what_is_missing(self, active) -> None:
        """On macOS 11/12, name the kernel features these rules would use and this OS lacks."""
        if self.caps == ALL_CAPS:
            return
        full = kernel_mutes(active, self.event_names, self.protected, ALL_CAPS)
        if full == self._wanted:
            return
        note = (f"{_os_text()} has no {', '.join(missing_features(self.caps))}: the mute rules that need them "
                "run in the pipeline only")
        if note != self.state.last_error:
            self.state.last_error = note
            log.warning("client %s: %s", self.state.name, note)

    def _apply(self, plan: KernelMutes) -> tuple[KernelMutes, bool]:
        """Set ``plan`` on the client without a moment that selects less than both plans.

        Returns what the kernel applies of the rules, and whether every call succeeded.
        Before subscribing nothing flows, so order is free.  Afterwards new mutes are
        added before stale ones are removed: with process-path inversion a mute is a
        selection, and removing first would briefly select nothing (events lost with no
        sequence gap).  A reload that flips inversion keeps the client's mode and lets
        everything through instead, leaving the new rules to the pipeline.
        """
        failed: list[str] = []
        if not self._subscribed:
            if plan.invert_path:
                # A new client starts with ES's default (AUTH) mute set; inverted, it would
                # turn into a selection, so it is cleared first.
                self._call(failed, "es_unmute_all_paths", self.module.lib.esf_unmute_all_paths)
                self._call(failed, "es_unmute_all_target_paths", self.module.lib.esf_unmute_all_target_paths)
            self._set(failed, plan.calls, set())
            if plan.invert_path:
                self._invert(failed, True)
            return plan, not failed
        if plan.invert_path != self._k_inverted:
            if self._k_inverted:  # stay inverted, select every process path
                select_all = ("/", PREFIX, tuple(e for e in self.event_names if e not in self.protected))
                self._set(failed, (select_all,), self._k_calls)
            else:  # stay uninverted, mute nothing
                self._set(failed, (), self._k_calls)
            return KernelMutes(), not failed
        self._set(failed, plan.calls, self._k_calls)
        return plan, not failed

    def _set(self, failed: list, wanted, current: set) -> None:
        """Add what ``wanted`` lacks, then remove what it no longer has."""
        ffi, lib, c = self.module.ffi, self.module.lib, self.client
        wanted = set(wanted)
        for path, ptype, names in sorted(wanted - current):
            types = ffi.new("uint32_t[]", [events.number_of(e) for e in names] or [0])
            if self._call(failed, f"mute {path!r}", lib.esf_mute_path, c, path.encode(), ptype, types, len(names)):
                self._k_calls.add((path, ptype, names))
        stale = current - wanted
        if stale and not self.caps & CAP_PATH_EVENTS:
            # macOS 11 cannot unmute one path: clear them all and set the wanted ones again
            # (never inverted there, so the moment between lets more through, not less).
            if self._call(failed, "es_unmute_all_paths", lib.esf_unmute_all_paths, c):
                self._k_calls.clear()
                self._set(failed, wanted, set())
            return
        for path, ptype, names in sorted(stale):
            types = ffi.new("uint32_t[]", [events.number_of(e) for e in names] or [0])
            if self._call(failed, f"unmute {path!r}", lib.esf_unmute_path, c, path.encode(), ptype, types, len(names)):
                self._k_calls.discard((path, ptype, names))

    def _invert(self, failed: list, on: bool) -> None:
        lib = self.module.lib
        if self._call(failed, "es_invert_muting(PATH)", lib.esf_set_inverted, self.client, INVERT_PATH, int(on)):
            self._k_inverted = on
        self._call(failed, "es_invert_muting(TARGET_PATH)", lib.esf_set_inverted, self.client, INVERT_TARGET_PATH, 0)

    def _call(self, failed: list, what: str, fn, *args) -> bool:
        """One shim call; a failure is logged (the pipeline applies every rule anyway)."""
        args = args or (self.client,)
        rc = fn(*args)
        if rc != 0:
            failed.append(what)
            log.warning("client %s: %s failed (%s); the pipeline applies the rules without it", self.state.name,
                        what, "not on this macOS" if rc == ESF_UNSUPPORTED else "ES refused")
        return rc == 0
