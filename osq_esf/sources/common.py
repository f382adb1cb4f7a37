"""What the live sources (eslogger, native) share: which ES clients to run, for which events.

Platform sources never import each other; both import this.  A *client* is a named group
of event types with its own ES client and kernel queue.  The default groups come from
the table declarations (``client = "file"`` in a table spec); ``[clients]`` in the
configuration replaces them.  Types the running macOS does not know are left out of a
client (eslogger and es_subscribe refuse unknown types), and the source says which and
why in es_sources; a name that is no ES NOTIFY event at all is refused.
"""

from __future__ import annotations

import logging

from osq_esf import events
from osq_esf.sources import macos_text
from osq_esf.sources.base import SourceError

log = logging.getLogger(__name__)

# fork/exec/exit feed the lineage stage: subscribed whenever it is on.
LINEAGE_EVENTS = ("exec", "fork", "exit")
# The order default clients are listed in (es_sources, logs); clients not named here follow.
CLIENT_ORDER = ("process", "file", "device", "security")


def default_clients(kinds=None) -> dict[str, list[str]]:
    """client -> event names, from the ``client`` key of every table declaration."""
    if kinds is None:
        from osq_esf.kinds import default_kinds

        kinds = default_kinds()
    out: dict[str, list[str]] = {}
    for k in sorted(kinds, key=lambda k: k.number):
        if k.spec.client:
            out.setdefault(k.spec.client, []).append(k.short)
    order = {c: i for i, c in enumerate(CLIENT_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def lineage_subscribed(config) -> bool:
    """Whether the lineage stage needs exec, fork and exit whatever the clients name."""
    lineage = getattr(config, "lineage", None)
    return lineage is None or (lineage.enabled and lineage.process_events)


def configured_clients(config=None, wanted: list[str] | None = None, spec: str = "eslogger",
                       kinds=None) -> dict[str, list[str]]:
    """[clients] or the defaults (only the ``wanted`` ones if given); with lineage on,
    exec/fork/exit are always subscribed, even when only file clients were chosen."""
    configured = getattr(config, "clients", None)
    clients = {n: list(v) for n, v in (configured or default_clients(kinds)).items()}
    if wanted:
        unknown = [w for w in wanted if w not in clients]
        if unknown:
            raise SourceError(f"{spec}: no client named {unknown[0]!r}; configured: {', '.join(clients)}")
        clients = {w: clients[w] for w in wanted}
    if lineage_subscribed(config):
        have = {e for evs in clients.values() for e in evs}
        missing = [e for e in LINEAGE_EVENTS if e not in have]
        if missing:
            name = "process" if "process" not in clients else "lineage"
            clients[name] = missing
    for client, evs in clients.items():
        for e in evs:
            t = events.BY_SHORT.get(e)
            if t is None or t.action != "NOTIFY":
                raise SourceError(f"client {client}: {e!r} is not an ES NOTIFY event name (see "
                                  f"`eslogger --list-events`); remove it from [clients] {client}")
    return clients


def split_supported(names: list[str], supported) -> tuple[list[str], list[str]]:
    """(names ``supported`` accepts, the others with why), keeping the order."""
    keep, skipped = [], []
    for e in names:
        why = supported(e)
        if why is None:
            keep.append(e)
        else:
            skipped.append(f"{e} ({why})")
    return keep, skipped


def client_sources(clients: dict[str, list[str]], supported, make, none_here: str, none_anywhere: str) -> list:
    """One source per client, ``make(name, events)``, with the types ``supported`` refuses left out
    and named in the client's es_sources row; a client left with none is not started, and
    :class:`SourceError` (``none_anywhere``) when no client is left at all."""
    out = []
    for name, evs in clients.items():
        keep, skipped = split_supported(evs, supported)
        if not keep:
            log.warning("client %s: %s; not started", name, none_here)
            continue
        src = make(name, keep)
        if skipped:
            src.state.skipped = "; ".join(skipped)
            log.info("client %s: left out %s", name, src.state.skipped)
        out.append(src)
    if not out:
        raise SourceError(none_anywhere)
    return out


def listed_in(known, where: str):
    """A ``supported`` test for :func:`split_supported`: only the names in ``known`` (eslogger's
    ``--list-events``)."""
    def supported(e: str) -> str | None:
        if e in known:
            return None
        return f"came with macOS {events.BY_SHORT[e].macos}; eslogger on {where} does not list it"

    return supported


def newer_than(here: tuple[int, ...] | None):
    """A ``supported`` test for :func:`split_supported`: a type newer than macOS ``here`` is left out."""
    def supported(e: str) -> str | None:
        t = events.BY_SHORT[e]
        if here is not None and events.macos_tuple(t.macos) > here:
            return f"came with macOS {t.macos}; this is {macos_text(here)}"
        return None

    return supported
