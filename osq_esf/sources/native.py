"""Live events straight from libEndpointSecurity through the cffi shim in native/ (macOS).

One ES client per ``[clients]`` group, as with eslogger: each client has its own
kernel queue and its own sequence numbers (endpoint-security.md §10, §16).  The C
handler serialises every message to an eslogger-shaped JSON line in a bounded ring
(native/esf_shim.c); this source's thread drains the ring in batches into
:meth:`Pipeline.ingest`, so decoding, rules, lineage and seq-gap accounting are the
same code as for eslogger and replay.  Python is never called from ES's thread.

The process must be the signed executable of an app bundle holding the
``com.apple.developer.endpoint-security.client`` entitlement, run as root with Full
Disk Access (deployment-and-fleet.md §11); es_new_client's refusals are explained.

Path mutes that ES can apply (process path or target path, literal or prefix) are
also set on each client with ``es_mute_path_events``, so the kernel never sends
those events; the pipeline still checks every rule (docs/decisions.md, "The native
source").  Off macOS the only way in is a simulator build named by
``$OSQ_ESF_NATIVE_SIM`` (a directory holding it), which tests use.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import time
from dataclasses import dataclass

from osq_esf import events
from osq_esf.sources.base import BATCH, Source, SourceError
from osq_esf.sources.common import LINEAGE_EVENTS, configured_clients, newer_than, split_supported

log = logging.getLogger(__name__)

ENV_SIM = "OSQ_ESF_NATIVE_SIM"
SHIM_VERSION = 1  # ESF_SHIM_VERSION in native/esf_shim.h
RING_BYTES = 8 << 20  # per client; a line may use up to half (exec with a 1 MiB ARG_MAX fits)
DRAIN_TIMEOUT_MS = 200  # how soon the thread notices stop() and reloaded rules
STATS_EVERY = 1.0  # seconds between looks at the shim's loss counters

# es_new_client_result_t (endpoint-security.md §7.1) -> what to do about it.
NEW_CLIENT_ERRORS = {
    1: "ES rejected an argument of es_new_client (a bug in the shim)",
    2: "ES had an internal error creating the client; try again later",
    3: "this executable lacks the com.apple.developer.endpoint-security.client entitlement: run the signed "
       "osq_esf.app bundle with its provisioning profile (native/README.md), or use --source eslogger",
    4: "not permitted: grant Full Disk Access to the process that starts osq-esf (osqueryd or orbit under "
       "osquery, else the bundle) with an MDM PPPC profile (SystemPolicyAllFiles), then restart it",
    5: "not privileged: Endpoint Security clients must run as root",
    6: "the system has too many Endpoint Security clients: use fewer [clients] or stop another ES tool",
}

# es_mute_path_type_t and es_mute_inversion_type_t (endpoint-security.md §9.1)
PATH_TYPE = {("process_path", "prefix"): 0, ("process_path", "literal"): 1,
             ("target_path", "prefix"): 2, ("target_path", "literal"): 3}
INVERT_PATH, INVERT_TARGET_PATH = 1, 2

def target_events() -> frozenset:
    """The event types whose table declares a target path (osq_esf.rules.mutes.getter): ES is
    told to mute target paths for these and no more."""
    from osq_esf.kinds import default_kinds

    return frozenset(k.short for k in default_kinds() if k.target)

KERNEL_APPLIED = "kernel+pipeline"


def explain_new_client(result: int, name: str = "") -> str:
    why = NEW_CLIENT_ERRORS.get(result, "unknown es_new_client result")
    return f"es_new_client failed ({name or result}): {why}"


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
            from osq_esf import _esf_native as module  # type: ignore[attr-defined]
        except ImportError:
            raise SourceError("the native source needs the shim built on this Mac: python native/build.py "
                              "--out osq_esf (native/README.md); or use --source eslogger") from None
    if module.lib.esf_version() != SHIM_VERSION:
        raise SourceError(f"_esf_native is shim version {module.lib.esf_version()}, this osq-esf needs "
                          f"{SHIM_VERSION}: rebuild it with native/build.py")
    return module


def native_sources(sink, arg: str, spec: str, config=None, module=None) -> list["NativeSource"]:
    """One source per client; ``native:process,file`` runs only those clients.  Types newer than
    the running macOS are left out (es_subscribe would refuse them) and named in es_sources."""
    from osq_esf.sources import macos_version

    module = module or load_module()
    clients = configured_clients(config, [a for a in arg.split(",") if a], spec)
    lineage = getattr(config, "lineage", None)
    protect = (frozenset(LINEAGE_EVENTS) if lineage is None or (lineage.enabled and lineage.process_events)
               else frozenset())
    supported = newer_than(macos_version())
    out = []
    for name, evs in clients.items():
        keep, skipped = split_supported(evs, supported)
        if not keep:
            log.warning("client %s: this macOS has none of its event types; not started", name)
            continue
        src = NativeSource(sink, name, keep, module, spec, protect)
        if skipped:
            src.state.skipped = "; ".join(skipped)
        out.append(src)
    return out


# -- mutes in the kernel -------------------------------------------------------------------

@dataclass(frozen=True)
class KernelMutes:
    """What one client asks ES to mute: (path, es_mute_path_type_t, event names) calls and inversion."""

    calls: tuple = ()
    invert_path: bool = False
    rules: frozenset = frozenset()  # names of the rules this covers

    @property
    def empty(self) -> bool:
        return not self.calls and not self.invert_path


def kernel_mutes(rules, client_events, protected=frozenset()) -> KernelMutes:
    """The part of the mute rules ES can apply for a client subscribed to ``client_events``.

    Only process-path and target-path rules with literal or prefix values map onto
    ``es_mute_path_events`` (osq_esf.rules.mutes.NATIVE).  ``protected`` types (exec,
    fork and exit while lineage is on) are never muted in the kernel, because the
    lineage stage must see them even when a rule drops their rows.  For the same
    reason process-path inversion goes to the kernel only for a client with no
    protected type, and target-path inversion never does: ES's handling of events
    without a target under inversion is not documented (§9.2), the pipeline's is.
    """
    mutable = [e for e in client_events if e not in protected]
    targets = target_events()
    inverted = {r.dimension for r in rules if r.action == "mute-unselected"}
    invert_path = "process_path" in inverted and len(mutable) == len(list(client_events))
    calls, names = [], set()
    for r in rules:
        key = (r.dimension, r.match)
        if key not in PATH_TYPE or r.action == "mute-unselected":
            continue
        if r.dimension in inverted and not (r.dimension == "process_path" and invert_path):
            continue
        types = [e for e in mutable if r.applies_to(e) and (r.dimension != "target_path" or e in targets)]
        if not types:
            continue
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
                 protected=frozenset(LINEAGE_EVENTS), ring_bytes: int = RING_BYTES):
        super().__init__(sink, name, spec)
        self.event_names = list(event_names)
        self.module = module
        self.protected = frozenset(protected)
        self.ring_bytes = ring_bytes
        self.client = None  # the esf_client while running (tests reach the simulator through it)
        self.kernel = KernelMutes()
        self.kernel_ok = True
        self._rules_seen = None
        self._lost_seen = 0
        self.state.subscribed = tuple(self.event_names)
        sink.declare(name, self.event_names)

    def run(self) -> None:
        ffi, lib = self.module.ffi, self.module.lib
        result = ffi.new("int *")
        # Created here: es_delete_client must come from the creating thread (§7.1).
        client = lib.esf_client_new(self.ring_bytes, result)
        if client == ffi.NULL:
            why = explain_new_client(result[0], ffi.string(lib.esf_new_client_result_name(result[0])).decode())
            log.error("client %s: %s", self.state.name, why)
            self.state.set_state("failed", why)
            return
        self.client = client
        try:
            self._sync_mutes()
            # Subscribing last: no event arrives before the mutes are in place.
            types = ffi.new("uint32_t[]", [events.number_of(e) for e in self.event_names])
            keep = [ffi.new("char[]", e.encode()) for e in self.event_names]
            if lib.esf_subscribe(client, types, ffi.new("char *[]", keep), len(keep)) != 0:
                self.state.set_state("failed", f"es_subscribe failed for {', '.join(self.event_names)}")
                return
            self.state.set_state("running")
            self._pump(client)
        finally:
            self.client = None
            lib.esf_client_delete(client)
        if self.state.state == "running":
            self.state.set_state("stopped")

    def _pump(self, client) -> None:
        ffi, lib = self.module.ffi, self.module.lib
        cap = self.ring_bytes // 2 + 8  # the longest line the ring accepts fits
        buf = ffi.new("char[]", cap)
        ingest, st, drain = self.sink.ingest, self.state, lib.esf_drain
        next_stats = time.monotonic() + STATS_EVERY
        while not self.stopping:
            n = drain(client, buf, cap, BATCH, DRAIN_TIMEOUT_MS)
            if n:
                lines = ffi.buffer(buf, n)[:].split(b"\n")
                lines.pop()  # the empty piece after the last newline
                ingest(st, lines)
            if self.sink.mute_rules()[0] is not self._rules_seen:
                self._sync_mutes()
            if time.monotonic() >= next_stats:
                self._check_losses(client)
                next_stats = time.monotonic() + STATS_EVERY
        # Unsubscribed: what is already in the ring still reaches the tables.
        lib.esf_client_stop(client)
        while True:
            n = drain(client, buf, cap, BATCH, 0)
            if not n:
                break
            lines = ffi.buffer(buf, n)[:].split(b"\n")
            lines.pop()
            ingest(st, lines)
        self._check_losses(client)

    def stats(self) -> dict:
        """The shim's counters for this client (messages, lines, waits, losses, ring fill)."""
        client = self.client
        if client is None:
            return {}
        ffi, lib = self.module.ffi, self.module.lib
        s = ffi.new("esf_stats *")
        lib.esf_get_stats(client, s)
        return {k: getattr(s, k) for k in ("messages", "lines", "bytes", "waits", "oversize", "out_of_memory",
                                            "ring_used", "ring_capacity")}

    def _check_losses(self, client) -> None:
        s = self.stats()
        lost = s.get("oversize", 0) + s.get("out_of_memory", 0)
        if lost > self._lost_seen:
            self._lost_seen = lost
            self.state.last_error = (f"{s['oversize']} messages longer than half the ring and "
                                     f"{s['out_of_memory']} lost to memory were not delivered (seq gaps show them)")
            log.warning("client %s: %s", self.state.name, self.state.last_error)

    def _sync_mutes(self) -> None:
        """Bring the client's kernel mutes to the rules in force (at start and after each reload)."""
        rules, mutes = self.sink.mute_rules()
        self._rules_seen = rules
        plan = kernel_mutes(mutes, self.event_names, self.protected)
        if plan != self.kernel:
            self.kernel_ok = self._apply(plan)
            self.kernel = plan
        if plan.rules and self.kernel_ok:
            self.sink.mark_applied(rules, plan.rules, KERNEL_APPLIED)

    def _apply(self, plan: KernelMutes) -> bool:
        ffi, lib, c = self.module.ffi, self.module.lib, self.client
        failed = []
        # A new client starts with ES's default (AUTH) mute set; inverting would turn it
        # into a selection, so paths are cleared before the inversion is set (§9.2).
        for ok, what in ((lib.esf_unmute_all_paths(c), "es_unmute_all_paths"),
                         (lib.esf_unmute_all_target_paths(c), "es_unmute_all_target_paths"),
                         (lib.esf_set_inverted(c, INVERT_PATH, int(plan.invert_path)), "es_invert_muting(PATH)"),
                         (lib.esf_set_inverted(c, INVERT_TARGET_PATH, 0), "es_invert_muting(TARGET_PATH)")):
            if ok != 0:
                failed.append(what)
        for path, ptype, names in plan.calls:
            types = ffi.new("uint32_t[]", [events.number_of(e) for e in names])
            if lib.esf_mute_path(c, path.encode(), ptype, types, len(names)) != 0:
                failed.append(f"es_mute_path_events({path!r})")
        if failed:  # the pipeline applies every rule anyway: fewer events saved, nothing wrong
            log.warning("client %s: %s failed; those mutes run in the pipeline only", self.state.name,
                        ", ".join(failed))
        return not failed
