"""Hypothesis strategies for eslogger messages of any event type, built from the key schema.

The schema (osq_esf/data/eslogger-keys.json, and eslogger-keys-derived.json for the types it
does not cover when that file exists) lists every key eslogger writes per event type, with
its JSON type; ``?`` marks a key that may be absent and ``|`` a union.  A message drawn here
follows it, with audit tokens as objects or as the 8-element arrays of macOS 26.
"""

from __future__ import annotations

import json
import time
from functools import cache
from importlib import resources

from hypothesis import strategies as st

from osq_esf import events

TOKEN_KEYS = ("auid", "euid", "egid", "ruid", "rgid", "pid", "asid", "pidversion")


@cache
def key_schema() -> dict:
    """{"definitions": ..., "envelope": ..., "events": {type: {path: type}}} merged from the schema files."""
    root = resources.files("osq_esf").joinpath("data")
    merged = json.loads(root.joinpath("eslogger-keys.json").read_text())
    derived = root.joinpath("eslogger-keys-derived.json")
    if derived.is_file():
        extra = json.loads(derived.read_text())
        merged["definitions"] = {**extra.get("definitions", {}), **merged["definitions"]}
        merged["events"] = {**extra.get("events", {}), **merged["events"]}
    return merged


def _tree(flat: dict) -> dict:
    """{"a.b": t, "a": "object", "x[]": ..., "x[].y": t} -> nested {key: (type, optional, children)}."""
    root: dict = {}
    for path, typ in sorted(flat.items(), key=lambda kv: kv[0].count(".")):
        parts = path.split(".")
        node = root
        for part in parts[:-1]:
            name = part.rstrip("?")
            entry = node.setdefault(name, ["object", False, {}])
            node = entry[2]
        last = parts[-1]
        optional = last.endswith("?")
        name = last.rstrip("?")
        entry = node.setdefault(name, [typ, optional, {}])
        entry[0], entry[1] = typ, optional or entry[1]
    return root


_STRINGS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_PATHS = st.from_regex(r"/[A-Za-z0-9 ._-]{1,10}(/[A-Za-z0-9 ._-]{1,10}){0,3}", fullmatch=True)
_INTS = st.integers(0, 2**31 - 1)
_TIMES = st.integers(946_684_800, 2_000_000_000).map(
    lambda s: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".123456Z")


def token(form: str):
    return st.tuples(*[_INTS] * 8).map(lambda t: list(t) if form == "array" else dict(zip(TOKEN_KEYS, t)))


def _value(typ: str, children: dict, form: str, depth: int):
    """A strategy for one JSON value of schema type ``typ`` (a union picks one arm)."""
    arms = typ.split("|")
    if len(arms) > 1:
        return st.one_of(*[_value(a, children, form, depth) for a in arms])
    defs = key_schema()["definitions"]
    if typ == "null":
        return st.none()
    if typ == "int":
        return _INTS
    if typ == "bool":
        return st.booleans()
    if typ == "string":
        return _PATHS | _STRINGS
    if typ == "string(time)":
        return _TIMES
    if typ == "string(hex)":
        return st.text("0123456789ABCDEF", min_size=40, max_size=40)
    if typ == "array[int]":
        return st.lists(_INTS, max_size=3)
    if typ == "array[string]":
        return st.lists(_PATHS | _STRINGS, max_size=4)
    if typ == "audit_token":
        return token(form)
    if typ in ("process", "file", "stat"):
        if typ == "process" and depth > 2:
            return st.none()
        return _object(_tree(defs[typ]), form, depth + 1)
    if typ == "array":
        inner = children.get("[]")
        if inner is None:
            return st.just([])
        return st.lists(_value(inner[0], inner[2], form, depth + 1), max_size=3)
    if typ == "object":
        return _object(children, form, depth + 1)
    raise ValueError(f"unknown schema type {typ!r}")


def _object(tree: dict, form: str, depth: int):
    required, optional = {}, {}
    for name, (typ, opt, children) in tree.items():
        if name.endswith("[]"):
            continue
        kids = children
        if typ == "array":
            kids = {"[]": tree.get(name + "[]", ["object", False, {}])}
        s = _value(typ, kids, form, depth)
        (optional if opt else required)[name] = s
    return st.fixed_dictionaries(required, optional=optional)


def body(short: str, form: str = "object"):
    """A strategy for ``event.<short>`` of the given type."""
    flat = key_schema()["events"][short]
    tree = _tree(flat)
    # arrays' element paths ("fds[].fd") hang under "fds[]"
    return _object(tree, form, 0)


def message(short: str, version: int, form: str = "object"):
    """A whole eslogger line (as a dict) of type ``short`` and message ``version``."""
    defs = key_schema()["definitions"]
    proc = _object(_tree(defs["process"]), form, 1)
    return st.fixed_dictionaries({
        "event_type": st.just(events.number_of(short)),
        "version": st.just(version),
        "time": _TIMES.map(lambda t: t.replace(".123456Z", ".123456789Z")),
        "mach_time": _INTS,
        "seq_num": _INTS,
        "global_seq_num": _INTS,
        "action_type": st.just(1),
        "thread": st.fixed_dictionaries({"thread_id": _INTS}),
        "process": proc,
        "event": body(short, form).map(lambda b: {short: b}),
    })


def covered_types() -> list[str]:
    """The event types the schema files describe."""
    return sorted(key_schema()["events"])
