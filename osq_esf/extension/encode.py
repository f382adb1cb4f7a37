"""Thrift binary encoding of table replies, written directly.

osquery's reply to ``call`` is a ``list<map<string,string>>``.  The generated thrift
code (and osquery-python) builds a dict per row and writes every key and value
through Python calls; here a row is assembled from pre-encoded byte pieces instead:
the key bytes of each column are computed once, a ProcessContext's two dozen
columns are encoded once per distinct process and reused by every row it acts in,
and repeated values (paths, small numbers) come from per-column caches.  The
output is byte-for-byte what TBinaryProtocol would write.
"""

from __future__ import annotations

import os
import struct

# The compiled row encoder (_rowenc.c, built by setup.py when a C compiler is present) writes
# the same bytes as the Python path in osq_esf.extension.tables, which stays the fallback; OSQ_ESF_PURE=1
# forces the fallback (tests compare the two).
rowenc = None
if not os.environ.get("OSQ_ESF_PURE"):
    try:
        from osq_esf.extension import _rowenc as rowenc
    except ImportError:
        pass

T_STOP, T_I32, T_I64, T_STRING, T_STRUCT, T_MAP, T_LIST = 0, 8, 10, 11, 12, 13, 15
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_MAP_HEADERS = [bytes((T_STRING, T_STRING)) + _I32.pack(i) for i in range(256)]


def map_header(count: int) -> bytes:
    return _MAP_HEADERS[count] if count < 256 else bytes((T_STRING, T_STRING)) + _I32.pack(count)


def map_headers(counts: list[int]) -> list[bytes]:
    """map_header for every count, by table lookup when all are small."""
    if max(counts) < 256:
        return list(map(_MAP_HEADERS.__getitem__, counts))
    return [map_header(c) for c in counts]


def string(b: bytes) -> bytes:
    return _I32.pack(len(b)) + b


def text(v) -> bytes:
    """osquery's rendering of a value as the bytes of a string."""
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    if isinstance(v, bool):
        return b"1" if v else b"0"
    if isinstance(v, float):
        return repr(v).encode()
    return b"%d" % v


def pair(key: bytes, value) -> bytes:
    return string(key) + string(text(value))


def encode_dict_rows(rows: list[dict]) -> bytes:
    """Generic path for small tables: rows as dicts, None values left out (NULL)."""
    out = []
    for r in rows:
        items = [(k, v) for k, v in r.items() if v is not None]
        out.append(map_header(len(items)))
        out.extend(pair(k.encode(), v) for k, v in items)
    return b"".join(out)


def reply_call(seqid: int, code: int, message: str, uuid: int, row_count: int, rows: bytes) -> list[bytes]:
    """The whole REPLY message for Extension.call, as pieces to write in order."""
    msg = message.encode()
    head = b"".join((
        _I32.pack(-2147418110),  # strict header: VERSION_1 | REPLY (0x80010002)
        string(b"call"),
        _I32.pack(seqid),
        bytes((T_STRUCT, 0, 0)),  # call_result.success (field 0)
        bytes((T_STRUCT, 0, 1)),  # ExtensionResponse.status
        bytes((T_I32, 0, 1)), _I32.pack(code),
        bytes((T_STRING, 0, 2)), string(msg),
        bytes((T_I64, 0, 3)), _I64.pack(uuid),
        bytes((T_STOP,)),
        bytes((T_LIST, 0, 2)), bytes((T_MAP,)), _I32.pack(row_count),
    ))
    return [head, rows, bytes((T_STOP, T_STOP))]


class _Pieces(dict):
    """value -> encoded piece; a miss is made by ``make`` and kept while there is room.

    Lookups go through ``dict.__getitem__`` from ``map``, so a hit costs no Python
    frame at all; only a miss runs ``__missing__``.
    """

    __slots__ = ("make", "limit")

    def __init__(self, make, limit: int = 65536):
        super().__init__()
        self.make, self.limit = make, limit

    def __missing__(self, v):
        p = self.make(v)
        if len(self) >= self.limit:
            self.clear()  # e.g. `time` over a long run: old seconds are not asked for again
        self[v] = p
        return p


class ColumnEncoder:
    """Turns one column of a snapshot into per-row ``key + value`` pieces.

    Every method maps a whole column with C-level ``map`` calls: per cell there is a
    dict hit, or for unique integers a ``%d`` and a table lookup of the length prefix.
    """

    __slots__ = ("key", "nullable_text", "null_piece", "objs", "ints", "prefix")

    def __init__(self, name: str, numeric: bool, null_int: int = -(2**63)):
        self.key = string(name.encode())
        # NULL in a numeric column may be sent as "" (osquery reads it as NULL) and keeps
        # the map size constant; a TEXT NULL must be left out of the map (piece b"").
        self.nullable_text = not numeric
        self.null_piece = b"" if self.nullable_text else self.key + string(b"")
        key = self.key
        self.objs = _Pieces(lambda v: self.null_piece if v is None else key + string(text(v)))
        self.ints = _Pieces(lambda v: self.null_piece if v == null_int else key + string(b"%d" % v))
        # key + length for the decimal digits of a 64-bit integer (at most 20 characters)
        self.prefix = [key + _I32.pack(n) for n in range(21)]

    def pieces(self, values) -> list[bytes]:
        """An object column (None is NULL)."""
        return list(map(self.objs.__getitem__, values))

    def int_pieces(self, values) -> list[bytes]:
        """An integer column whose values repeat (NULL_INT is NULL)."""
        return list(map(self.ints.__getitem__, values))

    def unique_int_streams(self, values, null: int) -> list[list[bytes]]:
        """An integer column whose values rarely repeat (eid, sequence numbers), uncached.

        Returns the pieces as streams to interleave: prefixes and digits, so that no
        per-cell concatenation is made.
        """
        if null in values:  # rare (old message versions): the cached path handles NULL
            return [self.int_pieces(values)]
        if not len(values):
            return [[]]
        # One repr of the whole column renders every integer in C; split gives the digits.
        digits = str(values if isinstance(values, list) else values.tolist())[1:-1].encode().split(b", ")
        return [list(map(self.prefix.__getitem__, map(len, digits))), digits]


def process_blob(values, keys: tuple[bytes, ...], numeric: tuple[bool, ...]) -> tuple[int, bytes]:
    """Encode an Actor's column values (all of them, or those a query uses) once; every row
    of that actor reuses the blob."""
    out = []
    for key, is_num, v in zip(keys, numeric, values):
        if v is None:
            if is_num:
                out.append(key + string(b""))
        else:
            out.append(key + string(text(v)))
    return len(out), b"".join(out)
