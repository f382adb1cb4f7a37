"""Issue 12: the native source's rows equal eslogger's, column for column, for the same events.

For every curated family (tests/native_messages.CURATED; each union arm on its own), hypothesis
draws one event's values (tests/twin_events.py).  The event is rendered twice:

* as the ES message the simulator delivers to the real shim, whose line goes into a pipeline as
  a live ``native`` source's batch, exactly as ``NativeSource._pump`` hands it over;
* as the line eslogger writes for it: every key of the key schema at that message version, full
  stat blocks included, audit tokens as objects (and, as macOS 26's eslogger may, as arrays),
  checked against the schema.

Both pipelines run lineage and username resolution like the app, and take each event from a live
source named after the type's ES client, as the app's do.  The rows must be equal in every column of
the table, hidden ones included, and so must the text rows osquery receives, at every message version
from the type's first to 10 (3 never left a beta).  One column is excluded:

* ``eid``: a counter of the extension process (one for every ring), not a property of the event; the
  two pipelines share it, so the same event gets different eids.

Nothing else may differ: in particular no table reads the stat keys the shim leaves out.  What the
events do not cover, on purpose: bytes that are not UTF-8 and NUL inside strings (the shim writes
U+FFFD and ``\u0000``; what eslogger writes is unknown), an empty but non-NULL optional string (the
shim writes null), values the shim cuts to fit its line budget (``args_truncated``), and message
version 11 (exec's ``entitlements``, which no SDK declares yet).
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osq_esf import events
from osq_esf.kinds import default_kinds
# table_rows imports it; imported inside a @given test for the first time, its own @given trips hypothesis
import tests.test_protocol  # noqa: F401
from tests.native_messages import CURATED
from tests.native_sim import Builder, RawClient, violations
from tests.pipelines import make_pipeline, ring_rows, table_rows
from tests.twin_events import (ENVELOPES, FAMILIES, Envelope, Family, File, Hex, Proc, Time, Token, draw_event,
                               es_message, eslogger_message, leaves_of, present)

KINDS = default_kinds()
EXCLUDED = ("eid",)
# Events per family in `make test`; OSQ_ESF_ROWS_EXAMPLES=500 searches harder (minutes).
EXAMPLES = int(os.environ.get("OSQ_ESF_ROWS_EXAMPLES", "6"))
EQUALS = 2  # osquery's constraint operator
FORMS = st.sampled_from(["object", "array"])
# eslogger's own text (NSJSONSerialization: compact, UTF-8, "/" escaped as "\/"), or Python's default.
STYLES = st.sampled_from(["eslogger", "python"])


def render(msg: dict, style: str) -> bytes:
    if style == "python":
        return json.dumps(msg).encode()
    # "/" occurs only inside strings, so escaping it in the text escapes it in every string
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/").encode()


def versions_of(short: str) -> list[int]:
    first = events.first_message_version(short)
    return [v for v in range(first, 11) if v != 3]


@pytest.fixture(scope="module")
def raw(sim_dir):
    from osq_esf.sources.native import load_module

    mod = load_module(sim_dir)
    mod.lib.es_sim_reset()
    with RawClient(mod) as r:
        r.seq = {}  # what the simulator numbered: seq_num per type, global_seq_num ("*")
        yield r
    assert violations(mod) == [], "the strict simulator recorded violations"


class Twin:
    """A pipeline as the app wires it (lineage on, live sources resolving usernames), fed by one
    kind of source, kept for the whole module: both twins see the same events in the same order.
    Each event comes from the source named after its type's default ES client, as in the app."""

    def __init__(self, kind: str):
        self.kind = kind
        self.p, _ = make_pipeline(kinds=KINDS, lineage=True, source=None)
        self.sources: dict = {}

    def rows(self, line: bytes, short: str) -> tuple[str | None, dict, dict]:
        """(the decode error or None, ring row, osquery's text row) of one line, without the excluded
        columns.  Nothing is asserted here: the twins must ingest every line in lockstep."""
        client = KINDS.by_short[short].spec.client or "custom"
        src = self.sources.get(client) or self.sources.setdefault(client, self.p.add_source(client, self.kind,
                                                                                              live=True))
        before = src.decode_errors
        self.p.ingest(src, [line])
        if src.decode_errors != before:
            return src.last_error, {}, {}
        table = KINDS.by_short[short].table
        ring = ring_rows(self.p, table)[-1]
        only = {"constraints": [{"name": "eid", "list": [{"op": EQUALS, "expr": str(ring["eid"])}]}]}
        (text,) = table_rows(self.p, table, json.dumps(only))
        return (None, {k: v for k, v in ring.items() if k not in EXCLUDED},
                {k: v for k, v in text.items() if k not in EXCLUDED})


@pytest.fixture(scope="module")
def twins():
    return Twin("native"), Twin("eslogger")


def native_line(raw, family: Family, ev: dict, env, version: int) -> tuple[bytes, int, int]:
    """The shim's line, and the seq_num / global_seq_num the simulator gave the message."""
    b = Builder(raw.mod)
    m = es_message(b, family, ev, env, version)
    number = events.number_of(family.short)
    seq, gseq = raw.seq.get(number, 0), raw.seq.get("*", 0)
    line = raw.line(m)
    raw.seq[number], raw.seq["*"] = seq + 1, gseq + 1
    assert line.count(b"\n") == 1, line[:300]
    return line.rstrip(b"\n"), seq, gseq


def test_every_curated_family_is_covered():
    assert sorted({f.short for f in FAMILIES}) == sorted(CURATED)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_native_rows_equal_eslogger_rows(raw, twins, family, data):
    ev = data.draw(draw_event(raw.ffi, family), label="event")
    env = data.draw(ENVELOPES, label="envelope")
    form = data.draw(FORMS, label="token form")
    style = data.draw(STYLES, label="eslogger's JSON text")
    for version in versions_of(family.short):
        line, seq, gseq = native_line(raw, family, ev, env, version)
        msg = eslogger_message(family, ev, env, version, form, seq, gseq)
        body = msg["event"][family.short]
        unset = [p for p in leaves_of(body) if not any(p == k or p.startswith(k + ".") for k in ev)]
        assert not unset, f"{family.name} v{version}: eslogger keys the event does not set: {unset}"
        native_error, native, native_text = twins[0].rows(line, family.short)
        logged_error, logged, logged_text = twins[1].rows(render(msg, style), family.short)
        assert (native_error, logged_error) == (None, None), f"{family.name} v{version}: not decoded"
        diff = {k: (native[k], logged.get(k)) for k in native if native[k] != logged.get(k)}
        assert not diff, f"{family.name} v{version} ({form} tokens, {style} text): native vs eslogger: {diff}"
        assert native_text == logged_text, f"{family.name} v{version}"


def test_the_comparison_can_fail(raw, twins):
    """A value the shim would write wrongly shows as a difference: here the eslogger line is
    built from another value of one field than the ES message."""
    family = next(f for f in FAMILIES if f.short == "xpc_connect")
    ev = {"service_name": "com.apple.tccd", "service_domain_type": 1}
    t = Time(1_790_000_000, 5)
    token = Token(501, 501, 20, 501, 20, 300, 100001, 7)
    exe = File("/usr/bin/x", False, 1, 2, 0o100755, 1, 0, 0, 0, t, t, t, t, 10, 1, 4096, 0, 0)
    actor = Proc(token, 1, 1, 300, 300, 0, False, False, Hex(bytes(20)), "x", None, exe, None, (t.sec, 0), token,
                 token, 0)
    env = Envelope(t, 99, 7, (0, 0), actor)
    line, seq, gseq = native_line(raw, family, ev, env, 10)
    msg = eslogger_message(family, {**ev, "service_domain_type": 2}, env, 10, "object", seq, gseq)
    _, native, _ = twins[0].rows(line, "xpc_connect")
    _, logged, _ = twins[1].rows(render(msg, "eslogger"), "xpc_connect")
    assert native["service_domain_type"] == 1 and logged["service_domain_type"] == 2
    assert {k for k in native if native[k] != logged[k]} == {"service_domain_type", "service_domain_type_name"}
    assert present("close", "was_mapped_writable", 6) and not present("close", "was_mapped_writable", 5)
