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

from osq_esf.decode import File, Int, Process, Token
from osq_esf.schema import Column, SpecError, TableSpec


# A transform that reads several fields under its source names them here; they join the
# body's tree like any other path, so other columns can read beside them (create's
# ``destination.existing_file.stat.st_uid`` next to its destination_path).
TRANSFORM_FIELDS = {
    "destination_path": ("existing_file.path", "new_path.dir.path", "new_path.filename"),
}


def attribute(key: str) -> str:
    """The Struct attribute for a JSON key (keywords get a trailing ``_``)."""
    return key + "_" if keyword.iskeyword(key) else key


def _leaf_type(c: Column, path: str):
    """The msgspec type a column reads at ``path``."""
    if c.process:
        return Optional[Token] if path in c.token else Optional[Process]
    t = c.transform
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
        return Union[int, str, None]  # an unsigned 64-bit id: checked by extract.number_text
    if c.numeric:
        return Union[Int, bool, None]  # eslogger writes flags as JSON booleans
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
        where = f"{spec.name} ({c.name})"
        fields = TRANSFORM_FIELDS.get(c.transform)
        for path in c.source:
            if fields:
                for sub in fields:
                    _insert(tree, f"{path}.{sub}".split("."), Optional[str], where)
            else:
                _insert(tree, path.split("."), _leaf_type(c, path), where)
        for path in c.token:
            _insert(tree, path.split("."), _leaf_type(c, path), where)
    return _build("Body_" + spec.event, tree)


def events_struct(bodies: dict[str, type]) -> type:
    """The ``event`` object: one optional field per kind, named after its eslogger key."""
    fields = [(attribute(short), Optional[body], None) for short, body in sorted(bodies.items())]
    rename = {attribute(s): s for s in bodies if attribute(s) != s}
    return msgspec.defstruct("Events", fields, kw_only=True, gc=False, rename=rename or None)
