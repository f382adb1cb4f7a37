"""Event bodies: a msgspec Struct per event kind, built from its table's declared sources.

Every source path of a table's own columns (``item.item_url``, ``destination``,
``instigator``) becomes a field of a nested Struct, typed by what the column makes of it,
so msgspec decodes exactly those fields in C and skips everything else (``stat``
blocks, ``fds``, unknown keys) without building a dict.  A kind with a hand-written
extractor brings its own Struct (:data:`osq_esf.extract.HAND_WRITTEN`).
"""

from __future__ import annotations

import keyword
from typing import Optional, Union

import msgspec
from msgspec import Struct

from osq_esf.decode import File, Process, Token
from osq_esf.schema import Column, SpecError, TableSpec


class NewPath(Struct, gc=False, kw_only=True):
    dir: Optional[File] = None
    filename: Optional[str] = None
    mode: Optional[int] = None


class Destination(Struct, gc=False, kw_only=True):
    """create's and rename's destination: an existing file, or a directory and a new name."""

    existing_file: Optional[File] = None
    new_path: Optional[NewPath] = None


def attribute(key: str) -> str:
    """The Struct attribute for a JSON key (keywords get a trailing ``_``)."""
    return key + "_" if keyword.iskeyword(key) else key


def _leaf_type(c: Column, path: str):
    """The msgspec type a column reads at ``path``."""
    if c.process:
        return Optional[Token] if path == c.token else Optional[Process]
    t = c.transform
    if t == "destination_path":
        return Optional[Destination]
    if t == "path_or_string":
        return Union[str, File, None]
    if t == "json":
        return msgspec.Raw  # msgspec takes no Optional[Raw]: an absent key is an empty Raw
    if t == "argv":
        return Optional[list[str]]
    if t == "count":
        return Optional[list]
    if t in ("time", "lower"):
        return Optional[str]
    if t == "text":
        return Union[int, str, None]
    if c.numeric:
        return Union[int, bool, None]  # eslogger writes flags as JSON booleans
    return Optional[str]


def _insert(tree: dict, parts: list[str], leaf, where: str) -> None:
    node = tree
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        have = node.get(key)
        if last:
            if isinstance(have, dict):
                raise SpecError(f"{where}: {'.'.join(parts)} is read as a value and as an object")
            if have is not None and have != leaf:
                raise SpecError(f"{where}: {'.'.join(parts)} is read as two different types")
            node[key] = leaf
        else:
            if have is None:
                have = node[key] = {}
            elif not isinstance(have, dict):
                raise SpecError(f"{where}: {'.'.join(parts[:i + 1])} is read as a value and as an object")
            node = have


def _build(name: str, tree: dict) -> type:
    fields, rename = [], {}
    for key, sub in tree.items():
        typ = Optional[_build(f"{name}_{key}", sub)] if isinstance(sub, dict) else sub
        attr = attribute(key)
        if attr != key:
            rename[attr] = key
        fields.append((attr, typ, msgspec.Raw() if typ is msgspec.Raw else None))
    return msgspec.defstruct(name, fields, kw_only=True, gc=False, rename=rename or None)


def body_struct(spec: TableSpec) -> type:
    """The Struct that decodes ``event.<spec.event>`` for the table's generic extractor."""
    tree: dict = {}
    for c in spec.own_columns:
        if c.named:
            continue  # an enum's _name column reads the same value as the column it names
        paths = list(c.source) + ([c.token] if c.token else [])
        for path in paths:
            _insert(tree, path.split("."), _leaf_type(c, path), f"{spec.name} ({c.name})")
    return _build("Body_" + spec.event, tree)


def events_struct(bodies: dict[str, type]) -> type:
    """The ``event`` object: one optional field per kind, named after its eslogger key."""
    fields = [(attribute(short), Optional[body], None) for short, body in sorted(bodies.items())]
    rename = {attribute(s): s for s in bodies if attribute(s) != s}
    return msgspec.defstruct("Events", fields, kw_only=True, gc=False, rename=rename or None)
