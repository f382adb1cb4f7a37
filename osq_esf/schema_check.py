"""Check one eslogger JSON message against eslogger's key schema.

The schema is ``data/eslogger-keys.json`` (Mac Monitor, BSD-3-Clause; see
``data/LICENSE.mac-monitor``): every key and type eslogger writes for 51 event
types, recovered from the macOS 27 eslogger binary.  The other 53 NOTIFY types
come from ``data/eslogger-keys-derived.json``, which this project derived from
the field names of Apple's ESMessage.h (unverified against a real eslogger; its
``_comment`` lists the assumptions).  Both describe the newest message version
only, so :data:`VERSION_GATES` adds which message version introduced each field
(Apple's per-field notes in ESMessage.h): below its version a field must be
absent, from it on it must be present.

Beyond keys and types it checks what eslogger always does: ``time`` with 9
fractional digits, ``start_time`` with 6, ``cdhash`` as 40 upper-case hex digits,
audit tokens as an object or the 8-element array, one ``event`` key named after
``event_type``, and the union arms (``destination_type``, ``result_type``,
authentication's ``type``).

Run ``python -m osq_esf.schema_check FILE...`` to check recordings (.gz too).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

# (object, key) -> (first message version with the key, required from then on).
# Version 3 shipped only in a macOS beta: its fields are optional at v3, required from v4.
VERSION_GATES: dict[tuple[str, str], tuple[int, bool]] = {
    ("envelope", "seq_num"): (2, True),
    ("envelope", "global_seq_num"): (4, True),
    ("envelope", "thread"): (4, True),
    ("process", "tty"): (2, True),
    ("process", "start_time"): (3, True),
    ("process", "responsible_audit_token"): (4, True),
    ("process", "parent_audit_token"): (4, True),
    ("process", "cs_validation_category"): (10, True),
    ("exec", "script"): (2, True),
    ("exec", "cwd"): (3, True),
    ("exec", "last_fd"): (4, True),
    # es_exec_fd_count came with macOS 11 (v4), like last_fd.
    ("exec", "fds"): (4, True),
    ("exec", "image_cputype"): (6, True),
    ("exec", "image_cpusubtype"): (6, True),
    ("exec", "dyld_exec_path"): (7, True),
    ("exec", "entitlements"): (11, False),
    ("create", "acl"): (2, True),
    ("close", "was_mapped_writable"): (6, True),
    ("get_task", "type"): (5, True),
    ("get_task_read", "type"): (5, True),
    ("get_task_inspect", "type"): (5, True),
    ("get_task_name", "type"): (5, True),
    ("mount", "disposition"): (8, True),
    ("remount", "remount_flags"): (8, True),
    ("remount", "disposition"): (8, True),
    ("signal", "instigator"): (9, True),
    ("iokit_open", "parent_registry_id"): (10, True),
    ("iokit_open", "parent_path"): (10, True),
    ("xp_malware_detected", "detected_executable"): (10, True),
    # "Available in msg versions >= 8": the instigator's (and app's, petitioner's) audit token
    # beside the process object, which may be null.  Nested objects are named by their path.
    ("file_provider_materialize", "instigator_token"): (8, True),
    ("authentication.data.od", "instigator_token"): (8, True),
    ("authentication.data.touchid", "instigator_token"): (8, True),
    ("authentication.data.token", "instigator_token"): (8, True),
    ("btm_launch_item_add", "instigator_token"): (8, True),
    ("btm_launch_item_add", "app_token"): (8, True),
    ("btm_launch_item_remove", "instigator_token"): (8, True),
    ("btm_launch_item_remove", "app_token"): (8, True),
    ("profile_add", "instigator_token"): (8, True),
    ("profile_remove", "instigator_token"): (8, True),
    ("authorization_petition", "instigator_token"): (8, True),
    ("authorization_petition", "petitioner_token"): (8, True),
    ("authorization_judgement", "instigator_token"): (8, True),
    ("authorization_judgement", "petitioner_token"): (8, True),
    **{(od, "instigator_token"): (8, True) for od in (
        "od_group_add", "od_group_remove", "od_group_set", "od_modify_password", "od_disable_user",
        "od_enable_user", "od_attribute_value_add", "od_attribute_value_remove", "od_attribute_set",
        "od_create_user", "od_create_group", "od_delete_user", "od_delete_group")},
}
BETA_ONLY_VERSION = 3
# es_authentication_type_t -> the arm of authentication's data union (ESTypes.h).
AUTHENTICATION_ARMS = ("od", "touchid", "token", "auto_unlock")

# The stat keys the native shim writes (native/README.md): with ``partial_stat`` a stat
# block must hold these and may leave out the rest.
NATIVE_STAT_KEYS = frozenset(("st_uid", "st_gid", "st_mode", "st_size", "st_birthtimespec"))

TOKEN_KEYS = ("auid", "euid", "egid", "ruid", "rgid", "pid", "asid", "pidversion")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z\Z")
_HEX = re.compile(r"[0-9A-F]+\Z")
# Fractional digits eslogger writes, by key name.
_TIME_DIGITS = {"time": 9, "start_time": 6}
_STAT_TIME_DIGITS = 9


class SchemaError(ValueError):
    """A message eslogger would not write; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class _Node:
    """One key of the schema: its allowed types, whether it may be absent, its children."""

    __slots__ = ("types", "optional", "children", "items")

    def __init__(self, types: tuple[str, ...] = ("object",), optional: bool = False):
        self.types = types
        self.optional = optional
        self.children: dict[str, _Node] = {}
        self.items: _Node | None = None


def _tree(flat: dict[str, str]) -> _Node:
    """Dotted keys (``a.b?``, ``fds[].pipe.pipe_id``) -> a tree of nodes."""
    root = _Node()
    for key, typ in flat.items():
        optional = key.endswith("?")
        segments = key.rstrip("?").split(".")
        node = root
        for i, seg in enumerate(segments):
            last = i == len(segments) - 1
            is_items = seg.endswith("[]")
            name = seg[:-2] if is_items else seg
            name = name.rstrip("?")
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(("array",) if is_items else ("object",))
            if is_items:
                if child.items is None:
                    child.items = _Node()
                child = child.items
            if last:
                child.types = tuple(typ.split("|"))
                child.optional = optional
            node = child
    return root


class Schema:
    """eslogger-keys.json, parsed into trees, plus the event type names."""

    def __init__(self, keys: dict, event_names: dict[int, str]):
        self.definitions = {name: _tree(flat) for name, flat in keys["definitions"].items()}
        self.envelope = _tree(keys["envelope"])
        self.events = {name: _tree(flat) for name, flat in keys["events"].items()}
        self.event_names = event_names


@lru_cache(maxsize=None)
def load_schema() -> Schema:
    """The bundled schema (osq_esf/data), parsed once."""
    data = resources.files("osq_esf").joinpath("data")
    keys = json.loads(data.joinpath("eslogger-keys.json").read_text())
    derived = json.loads(data.joinpath("eslogger-keys-derived.json").read_text())["events"]
    overlap = set(derived) & set(keys["events"])
    if overlap:
        raise ValueError(f"eslogger-keys-derived.json repeats types eslogger-keys.json has: {sorted(overlap)}")
    keys = {**keys, "events": {**keys["events"], **derived}}
    rows = csv.DictReader(data.joinpath("es_event_types.csv").read_text().splitlines())
    names = {int(r["value"]): r["eslogger_short_name"] for r in rows if r["eslogger_short_name"]}
    return Schema(keys, names)


class _Checker:
    def __init__(self, schema: Schema, version: int, allow_empty_stat: bool, partial_stat: bool = False):
        self.schema = schema
        self.version = version
        self.allow_empty_stat = allow_empty_stat
        self.partial_stat = partial_stat
        self.errors: list[str] = []

    def err(self, where: str, what: str) -> None:
        self.errors.append(f"{what} at {where}" if where else what)

    # -- objects ---------------------------------------------------------------------

    def obj(self, value: dict, node: _Node, where: str, gate: str | None) -> None:
        """Keys of an object against a node's children, with version gating under ``gate`` (an
        object of the schema, or a path in an event body such as ``authentication.data.od``)."""
        for key, child in node.children.items():
            path = f"{where}.{key}" if where else key
            present = key in value
            since, required = VERSION_GATES.get((gate, key), (0, True)) if gate else (0, True)
            if since and self.version < since:
                if present:
                    self.err(path, f"key {key} is not in message version {self.version} (since v{since})")
                continue
            if not present:
                beta = since == BETA_ONLY_VERSION and self.version == BETA_ONLY_VERSION
                partial = gate == "stat" and self.partial_stat and key not in NATIVE_STAT_KEYS
                if not (child.optional and not since) and required and not beta and not partial:
                    self.err(where, f"missing key {key}")
                continue
            self.value(value[key], child, path, key, f"{gate}.{key}" if gate else None)
        for key in value:
            if key not in node.children:
                self.err(where, f"unexpected key {key}")

    # -- values ----------------------------------------------------------------------

    def value(self, v: Any, node: _Node, where: str, key: str, gate: str | None = None) -> None:
        problems = []
        for t in node.types:
            before = len(self.errors)
            if self.matches(v, t, node, where, key, gate):
                return  # problems found inside a matching alternative stand
            del self.errors[before:]
            problems.append(t)
        self.err(where, f"{type(v).__name__} {_short(v)} is not {'|'.join(problems)}")

    def matches(self, v: Any, t: str, node: _Node, where: str, key: str, gate: str | None = None) -> bool:
        """Whether ``v`` is of type ``t``; nested problems are reported as errors."""
        if t == "null":
            return v is None
        if t == "int":
            return type(v) is int
        if t == "bool":
            return type(v) is bool
        if t == "string":
            return type(v) is str
        if t == "string(time)":
            return type(v) is str and self.time(v, where, key)
        if t == "string(hex)":
            return type(v) is str and self.hex(v, where, key)
        if t == "array[int]":
            return type(v) is list and all(type(x) is int for x in v)
        if t == "array[string]":
            return type(v) is list and all(type(x) is str for x in v)
        if t == "array":
            if type(v) is not list:
                return False
            if node.items is not None:
                for i, item in enumerate(v):
                    self.value(item, node.items, f"{where}[{i}]", key)
            return True
        if t == "object":
            if type(v) is not dict:
                return False
            if node.children:
                self.obj(v, node, where, gate)
            return True
        if t == "audit_token":
            return self.token(v, where)
        if t in self.schema.definitions:
            if type(v) is not dict:
                return False
            if t == "stat" and not v and self.allow_empty_stat:
                return True
            self.obj(v, self.schema.definitions[t], where, t)
            return True
        self.err(where, f"schema type {t} is unknown")
        return True

    def time(self, v: str, where: str, key: str) -> bool:
        m = _TIME.match(v)
        if m is None:
            return False
        want = _STAT_TIME_DIGITS if key.startswith("st_") else _TIME_DIGITS.get(key)
        got = len(m.group(1) or "")
        if want is not None and got != want:
            self.err(where, f"{key} has {got} fractional digits, eslogger writes {want}")
        return True

    def hex(self, v: str, where: str, key: str) -> bool:
        if not _HEX.match(v) or len(v) % 2:
            return False
        if key == "cdhash" and len(v) != 40:
            self.err(where, f"cdhash has {len(v)} hex digits, not 40")
        return True

    def token(self, v: Any, where: str) -> bool:
        if type(v) is list:  # [auid, euid, egid, ruid, rgid, pid, asid, pidversion] (some v10 builds)
            if len(v) != 8 or not all(type(x) is int for x in v):
                self.err(where, "audit token array must hold 8 ints")
            return True
        if type(v) is dict:
            self.obj(v, self.schema.definitions["audit_token"], where, None)
            return True
        return False


def _short(v: Any) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def check(msg: Any, *, allow_unknown_event: bool = False, allow_empty_stat: bool = False,
          partial_stat: bool = False) -> list[str]:
    """Every way ``msg`` (a decoded JSON object) differs from what eslogger writes; [] if none.

    ``allow_unknown_event`` accepts event types the schema has no keys for (values above
    147 from a newer macOS) after checking the envelope and the process.
    ``allow_empty_stat`` accepts ``"stat": {}``, which hand-made fixtures use for brevity.
    ``partial_stat`` accepts stat blocks with only :data:`NATIVE_STAT_KEYS` (the native shim's).
    """
    schema = load_schema()
    if type(msg) is not dict:
        return [f"a message is a JSON object, not {type(msg).__name__}"]
    version = msg.get("version")
    if type(version) is not int or not 1 <= version <= 64:
        version = 99  # check as the newest; the envelope pass reports the bad version
    c = _Checker(schema, version, allow_empty_stat, partial_stat)
    envelope = _Node()
    envelope.children = {k: v for k, v in schema.envelope.children.items() if k != "event"}
    body = {k: v for k, v in msg.items() if k != "event"}
    c.obj(body, envelope, "", "envelope")
    if "version" in msg and version == 99:
        c.err("version", "version must be an int from 1")
    if msg.get("schema_version", 1) != 1:
        c.err("schema_version", "schema_version is 1")
    if msg.get("action_type", 1) != 1:
        c.err("action_type", "eslogger writes NOTIFY messages only (action_type 1)")
    _check_result(c, msg.get("action"))
    for key in ("seq_num", "global_seq_num", "mach_time"):
        if type(msg.get(key)) is int and msg[key] < 0:
            c.err(key, f"{key} is negative")
    _check_event(c, msg, allow_unknown_event)
    return c.errors


def _check_result(c: _Checker, action: Any) -> None:
    try:
        result = action["result"]
        kind, inner = result["result_type"], result["result"]
    except (TypeError, KeyError):
        return  # the key pass has reported it
    want = {0: "auth", 1: "flags"}.get(kind)
    if want is None:
        c.err("action.result.result_type", f"result_type {kind} is neither 0 (auth) nor 1 (flags)")
    elif type(inner) is dict and set(inner) != {want}:
        c.err("action.result.result", f"result_type {kind} carries exactly the key {want}")


def _check_event(c: _Checker, msg: dict, allow_unknown: bool) -> None:
    if "event" not in msg:
        c.err("", "missing key event")
        return
    event = msg["event"]
    if type(event) is not dict or len(event) != 1:
        c.err("event", "event is an object with exactly one key")
        return
    (name, body), = event.items()
    et = msg.get("event_type")
    expected = c.schema.event_names.get(et) if type(et) is int else None
    if expected is not None and name != expected:
        c.err("event", f"event_type {et} is {expected}, but the event key is {name}")
    node = c.schema.events.get(name)
    if node is None or expected is None:
        if not allow_unknown:
            c.err("event", f"no schema for event type {et} ({name})")
        elif type(body) is not dict:
            c.err(f"event.{name}", "an event body is an object")
        return
    if type(body) is not dict:
        c.err(f"event.{name}", "an event body is an object")
        return
    c.obj(body, node, f"event.{name}", name)
    dest_type = body.get("destination_type")
    dest = body.get("destination")
    if name in ("create", "rename") and type(dest) is dict:
        want = {0: "existing_file", 1: "new_path"}.get(dest_type)
        if want is None:
            c.err(f"event.{name}.destination_type", f"destination_type {dest_type} is neither 0 nor 1")
        elif set(dest) != {want}:
            c.err(f"event.{name}.destination", f"destination_type {dest_type} carries exactly {want}")
        elif name == "rename" and want == "new_path" and "mode" in dest["new_path"]:
            c.err(f"event.{name}.destination.new_path", "rename's new_path has no mode")
    if name == "authentication" and type(body.get("data")) is dict:
        want = AUTHENTICATION_ARMS[body["type"]] if body.get("type") in range(len(AUTHENTICATION_ARMS)) else None
        if want is None:
            c.err(f"event.{name}.type", f"authentication type {body.get('type')} is not 0-3")
        elif set(body["data"]) != {want}:
            c.err(f"event.{name}.data", f"authentication type {body['type']} carries exactly {want}")


def validate(msg: Any, **options) -> None:
    """Raise :class:`SchemaError` unless ``msg`` is what eslogger writes."""
    errors = check(msg, **options)
    if errors:
        raise SchemaError(errors)


def check_line(line: bytes, **options) -> list[str]:
    """:func:`check` for one JSON line (CR/LF allowed); bad JSON and bad UTF-8 are errors too."""
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        return [f"not JSON: {e}"]
    return check(msg, **options)


def _lines(path: str) -> Iterable[bytes]:
    import gzip

    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        yield from f


def main(argv: list[str] | None = None) -> int:
    """``python -m osq_esf.schema_check FILE...``: report lines that fail, exit 1 if any."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m osq_esf.schema_check", description=main.__doc__)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--allow-unknown-event", action="store_true")
    ap.add_argument("--allow-empty-stat", action="store_true")
    ap.add_argument("--max-report", type=int, default=20)
    a = ap.parse_args(argv)
    bad = total = 0
    for path in a.files:
        for n, line in enumerate(_lines(path), 1):
            if not line.strip():
                continue
            total += 1
            errors = check_line(line, allow_unknown_event=a.allow_unknown_event, allow_empty_stat=a.allow_empty_stat)
            if errors:
                bad += 1
                if bad <= a.max_report:
                    print(f"{path}:{n}: {'; '.join(errors[:5])}")
    print(f"{total - bad}/{total} lines match eslogger's schema", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
