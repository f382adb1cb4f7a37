"""JSON the way eslogger writes it: compact UTF-8, ``/`` as ``\\/``, key order varying.

Everything is bytes.  A ``bytes`` value inside a dict is a fragment rendered
earlier (a process, a file) and is copied as is; that is what keeps a million
lines cheap: the big objects are rendered a few times each and reused.
"""

from __future__ import annotations

import json
import random
import time

_STR = json.JSONEncoder(ensure_ascii=False).encode  # eslogger writes UTF-8, not \u escapes
_LITERALS = {True: b"true", False: b"false", None: b"null"}


PERMUTATIONS = 16  # key orders per distinct key set


class Style:
    """How objects become bytes: key order (seeded) and slash escaping."""

    __slots__ = ("rng", "shuffle", "escape", "_orders")

    def __init__(self, rng: random.Random, shuffle: bool = True, escape: bool = True):
        self.rng = rng
        self.shuffle = shuffle
        self.escape = escape
        # key tuple -> orders, each a list of (key, b'{"key":' or b',"key":')
        self._orders: dict[tuple, list[list[tuple[str, bytes]]]] = {}

    def string(self, s: str) -> bytes:
        text = _STR(s)
        if self.escape:
            text = text.replace("/", "\\/")
        return text.encode()

    def encode(self, obj) -> bytes:
        out: list[bytes] = []
        self._enc(obj, out)
        return b"".join(out)

    def wrap(self, key: str, body: dict) -> bytes:
        """``{key: body}``: a one-key object has one order, so skip the machinery."""
        out = [b"{" + self.string(key) + b":"]
        self._enc(body, out)
        out.append(b"}")
        return b"".join(out)

    def _order(self, keys: tuple) -> list[tuple[str, bytes]]:
        orders = self._orders.get(keys)
        if orders is None:
            n = PERMUTATIONS if self.shuffle and len(keys) > 1 else 1
            orders = []
            for _ in range(n):
                ks = list(keys)
                if n > 1:
                    self.rng.shuffle(ks)
                orders.append([(k, (b"," if i else b"{") + self.string(k) + b":") for i, k in enumerate(ks)])
            self._orders[keys] = orders
        return orders[int(self.rng.random() * len(orders))] if len(orders) > 1 else orders[0]

    def _enc(self, o, out: list) -> None:
        t = type(o)
        if t is bytes:
            out.append(o)
        elif t is dict:
            if not o:
                out.append(b"{}")
                return
            for k, kb in self._order(tuple(o)):
                out.append(kb)
                v = o[k]
                tv = type(v)  # scalars inline: most values are, and calls are what costs
                if tv is bytes:
                    out.append(v)
                elif tv is int:
                    out.append(b"%d" % v)
                elif tv is str:
                    out.append(self.string(v))
                elif v is None or tv is bool:
                    out.append(_LITERALS[v])
                else:
                    self._enc(v, out)
            out.append(b"}")
        elif t is str:
            out.append(self.string(o))
        elif t is int:
            out.append(b"%d" % o)
        elif t is list or t is tuple:
            out.append(b"[")
            for i, x in enumerate(o):
                if i:
                    out.append(b",")
                self._enc(x, out)
            out.append(b"]")
        elif o is None or t is bool:
            out.append(_LITERALS[o])
        else:
            raise TypeError(f"cannot render {t.__name__}")


class Variants:
    """Up to ``k`` renderings of one object in different key orders, made on demand.

    eslogger's key order changes from record to record.  An object is rendered on
    first use; later uses mostly reuse a rendering and now and then add another
    order, so a million lines cost a few renders per object, not one per use.
    """

    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k

    def pick(self, cache: list, build, style: Style) -> bytes:
        n = len(cache)
        if n == 0 or (n < self.k and style.rng.random() < 0.05):
            b = style.encode(build())
            cache.append(b)
            return b
        return cache[int(style.rng.random() * n)] if n > 1 else cache[0]


def token_json(t: tuple, form: str):
    """An audit token (auid, euid, egid, ruid, rgid, pid, asid, pidversion) as eslogger writes it:
    an object, or the 8-element array of some macOS 26 builds (``form`` "array")."""
    if form == "array":
        return list(t)
    auid, euid, egid, ruid, rgid, pid, asid, pv = t
    return {"auid": auid, "euid": euid, "egid": egid, "ruid": ruid, "rgid": rgid, "pid": pid,
            "asid": asid, "pidversion": pv}


# -- time ----------------------------------------------------------------------------

_SECOND_PREFIX: dict[int, str] = {}


def _prefix(sec: int) -> str:
    p = _SECOND_PREFIX.get(sec)
    if p is None:
        if len(_SECOND_PREFIX) > 100_000:
            _SECOND_PREFIX.clear()
        p = _SECOND_PREFIX[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return p


def iso_ns(t_ns: int) -> str:
    """RFC 3339 UTC with 9 fractional digits (``time``, ``st_*timespec``)."""
    sec, ns = divmod(t_ns, 1_000_000_000)
    return f"{_prefix(sec)}.{ns:09d}Z"


def iso_us(t_ns: int) -> str:
    """RFC 3339 UTC with 6 fractional digits (``start_time``)."""
    sec, ns = divmod(t_ns, 1_000_000_000)
    return f"{_prefix(sec)}.{ns // 1000:06d}Z"


# -- the envelope ---------------------------------------------------------------------

# NOTIFY results: most types carry an auth result, open a flags result (Mac Monitor's
# open fixture; eslogger(1) describes the JSON).
RESULT_AUTH = {"result": {"result": {"auth": 0}, "result_type": 0}}
RESULT_FLAGS = {"result": {"result": {"flags": 4294967295}, "result_type": 1}}
FLAGS_RESULT_TYPES = frozenset((10,))  # NOTIFY_OPEN


class Envelopes:
    """Pre-rendered envelope templates per (version, event_type); fields fill by ``%``.

    A template is the whole line with ``%(x)b`` holes for time, numbers, thread,
    process and event, in one of ``k`` key orders.
    """

    def __init__(self, style: Style, k: int):
        self.style = style
        self.k = k if style.shuffle else 1
        self._templates: dict[tuple[int, int], list[bytes]] = {}

    def templates(self, version: int, event_type: int) -> list[bytes]:
        key = (version, event_type)
        t = self._templates.get(key)
        if t is None:
            t = self._templates[key] = [self._build(version, event_type) for _ in range(self.k)]
        return t

    def _build(self, version: int, event_type: int) -> bytes:
        d = {
            "schema_version": 1,
            "version": version,
            "time": b'"%(t)b"',
            "mach_time": b"%(m)b",
            "event_type": event_type,
            "action_type": 1,
            "action": RESULT_FLAGS if event_type in FLAGS_RESULT_TYPES else RESULT_AUTH,
            "process": b"%(p)b",
            "event": b"%(e)b",
        }
        if version >= 2:
            d["seq_num"] = b"%(s)b"
        if version >= 4:
            d["global_seq_num"] = b"%(g)b"
            d["thread"] = b"%(h)b"
        return self.style.encode(d)

    def line(self, version: int, event_type: int, t_ns: int, mach: int, seq: int, gseq: int,
             thread_id: int | None, proc: bytes, event: bytes) -> bytes:
        tpls = self.templates(version, event_type)
        tpl = tpls[int(self.style.rng.random() * len(tpls))] if len(tpls) > 1 else tpls[0]
        return tpl % {
            b"t": iso_ns(t_ns).encode(),
            b"m": b"%d" % mach,
            b"s": b"%d" % seq,
            b"g": b"%d" % gseq,
            b"h": b"null" if thread_id is None else b'{"thread_id":%d}' % thread_id,
            b"p": proc,
            b"e": event,
        }
