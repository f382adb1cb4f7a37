"""eslogger-shaped messages built from the key schema (osq_esf.schema_check), for tests.

:func:`message` fills every key the schema requires for an event type at a message
version with a plain value of its type, sets the values a test gives by dotted path
(``"item.item_url"``, ``"data.od.record_name"``: optional objects on the way are filled
in), and checks the result with the validator, so a test line is one eslogger could
write.  Audit tokens come as objects or as macOS 26's 8-element arrays (``form``),
in the acting process and inside the event body alike.
"""

from __future__ import annotations

import json

from osq_esf.schema_check import VERSION_GATES, check, load_schema
from osq_esf.events import number_of

TIME = "2026-10-05T09:00:00.123456789Z"
START = "2026-10-05T08:00:00.123456Z"
CDHASH = "0123456789ABCDEF0123456789ABCDEF01234567"


def token(pid: int, pidversion: int, form: str, *, uid: int = 501, gid: int = 20, asid: int = 100001):
    t = (uid, uid, gid, uid, gid, pid, asid, pidversion)  # auid, euid, egid, ruid, rgid, pid, asid, pidversion
    if form == "array":
        return list(t)
    return dict(zip(("auid", "euid", "egid", "ruid", "rgid", "pid", "asid", "pidversion"), t))


def file(path: str, *, uid: int = 501, gid: int = 20, mode: int = 0o100644, size: int = 1234,
         birth: str = "2026-10-05T08:59:00.000000000Z") -> dict:
    stat = {"st_dev": 16777230, "st_ino": 4242, "st_mode": mode, "st_nlink": 1, "st_uid": uid, "st_gid": gid,
            "st_rdev": 0, "st_atimespec": TIME, "st_mtimespec": TIME, "st_ctimespec": TIME,
            "st_birthtimespec": birth, "st_size": size, "st_blocks": 8, "st_blksize": 4096, "st_flags": 0,
            "st_gen": 0}
    return {"path": path, "path_truncated": False, "stat": stat}


def process(path: str, pid: int, pidversion: int, *, form: str = "object", version: int = 10,
            signing_id: str | None = None, team_id: str | None = None, platform: bool = False,
            uid: int = 501) -> dict:
    d = {
        "audit_token": token(pid, pidversion, form, uid=uid), "ppid": 1, "original_ppid": 1, "group_id": pid,
        "session_id": pid, "codesigning_flags": 0x22000001, "is_platform_binary": platform, "is_es_client": False,
        "cdhash": CDHASH, "signing_id": signing_id or path.rsplit("/", 1)[-1], "team_id": team_id,
        "executable": file(path, uid=0, gid=0, mode=0o100755),
    }
    if version >= 2:
        d["tty"] = None
    if version >= 3:
        d["start_time"] = START
    if version >= 4:
        d["responsible_audit_token"] = token(pid, pidversion, form, uid=uid)
        d["parent_audit_token"] = token(1, 1, form, uid=0)
    if version >= 10:
        d["cs_validation_category"] = 1 if platform else 6
    return d


def _default(node, version: int, form: str, gate: str | None):
    """A value of the node's first non-null type, its required keys filled."""
    t = next((t for t in node.types if t != "null"), "null")
    if t == "int":
        return 0
    if t == "bool":
        return False
    if t in ("string", "string(hex)"):
        return CDHASH if t == "string(hex)" else "x"  # 40 hex digits: a valid cdhash
    if t == "string(time)":
        return TIME
    if t.startswith("array"):
        return []
    if t == "audit_token":
        return token(77, 7, form)
    if t == "process":
        return process("/usr/bin/true", 77, 7, form=form, version=version)
    if t == "file":
        return file("/tmp/x")
    if t == "object":
        return _fill(node, version, form, gate)
    return None


def _present(gate: str | None, key: str, child, version: int) -> bool:
    since = VERSION_GATES.get((gate, key), (0, True))[0] if gate else 0
    if since:
        return version >= since
    return not child.optional


def _fill(node, version: int, form: str, gate: str | None) -> dict:
    """Required keys; ``gate`` names the object for VERSION_GATES (``authentication.data.od``)."""
    return {k: _default(c, version, form, f"{gate}.{k}" if gate else None)
            for k, c in node.children.items() if _present(gate, k, c, version)}


def body(event: str, values: dict | None = None, *, version: int = 10, form: str = "object") -> dict:
    """The event body: required keys filled, then ``values`` set by dotted path."""
    root = load_schema().events[event]
    out = _fill(root, version, form, event)
    for path, value in (values or {}).items():
        node, obj, gate = root, out, event
        *parents, last = path.split(".")
        for key in parents:
            node, gate = node.children[key], f"{gate}.{key}"
            if not isinstance(obj.get(key), dict):
                obj[key] = _fill(node, version, form, gate)
            obj = obj[key]
        if last not in node.children:
            raise KeyError(f"{event}: {path} is not in the key schema")
        obj[last] = value
    return out


def message(event: str, values: dict | None = None, *, version: int = 10, form: str = "object",
            actor: dict | None = None, seq: int = 0, gseq: int | None = None) -> dict:
    """A whole eslogger message of ``event``, checked by the validator (``seq``: seq_num, ``gseq``:
    global_seq_num, the same unless given)."""
    msg = {
        "version": version, "time": TIME, "mach_time": 1000 + seq, "schema_version": 1,
        "process": actor or process("/usr/libexec/actor", 300, 30, form=form, version=version),
        "action_type": 1, "action": {"result": {"result_type": 0, "result": {"auth": 0}}},
        "event_type": number_of(event), "event": {event: body(event, values, version=version, form=form)},
    }
    if version >= 2:
        msg["seq_num"] = seq
    if version >= 4:
        msg["thread"] = {"thread_id": 9000}
        msg["global_seq_num"] = seq if gseq is None else gseq
    errors = check(msg)
    assert not errors, f"{event} v{version} {form}: {errors}"
    return msg


def line(event: str, values: dict | None = None, **kw) -> bytes:
    """:func:`message` as one compact JSON line, as eslogger writes it."""
    return json.dumps(message(event, values, **kw), separators=(",", ":")).encode()
