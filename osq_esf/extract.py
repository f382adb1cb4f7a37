"""Per event type: which decoded fields fill which table columns.

Each extractor gets the message, its event and the context of the acting process, and
returns (the :class:`~osq_esf.decode.Process` whose context describes the row, or None
for the acting process; the table's own integer columns; the table's own other columns)
in the order it declares.  The
declared names are checked against tables/*.toml when the tables are built, so a
column cannot exist in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from osq_esf.decode import ExecEvent, ExitEvent, ForkEvent, IngestMessage, IOKitOpenEvent, OpenEvent, WriteEvent
from osq_esf.process import ProcessContext, token_fields


@dataclass(frozen=True)
class Extractor:
    short: str
    ints: tuple[str, ...]
    objs: tuple[str, ...]
    fn: Callable


EXTRACTORS: dict[str, Extractor] = {}


def extractor(short: str, ints: tuple[str, ...] = (), objs: tuple[str, ...] = ()):
    def register(fn):
        EXTRACTORS[short] = Extractor(short, ints, objs, fn)
        return fn

    return register


def quote_join(items: list[str]) -> str:
    """Join argv/env like osquery (quote items with a space or quote), minus its trailing space."""
    out = []
    for s in items:
        if " " in s or '"' in s:
            s = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(s)
    return " ".join(out)


# sys/fcntl.h: FREAD/FWRITE are the kernel's view of O_RDONLY/O_WRONLY (+1); the rest
# share the O_* bit values.
FFLAG_BITS = (
    (0x1, "FREAD"), (0x2, "FWRITE"), (0x4, "FNONBLOCK"), (0x8, "FAPPEND"),
    (0x10, "O_SHLOCK"), (0x20, "O_EXLOCK"), (0x40, "FASYNC"), (0x80, "FFSYNC"),
    (0x100, "O_NOFOLLOW"), (0x200, "O_CREAT"), (0x400, "O_TRUNC"), (0x800, "O_EXCL"),
    (0x4000, "FHASLOCK"), (0x8000, "O_EVTONLY"), (0x20000, "O_NOCTTY"),
    (0x100000, "O_DIRECTORY"), (0x200000, "O_SYMLINK"), (0x400000, "O_DSYNC"),
    (0x1000000, "O_CLOEXEC"), (0x20000000, "O_NOFOLLOW_ANY"),
)
_FFLAG_NAMES: dict[int, str] = {}


def fflag_names(fflag: int) -> str:
    """``FREAD|FWRITE|O_CREAT``; unknown bits as hex.  Cached: a handful of masks recur."""
    text = _FFLAG_NAMES.get(fflag)
    if text is None:
        parts, rest = [], fflag & 0xFFFFFFFF
        for bit, name in FFLAG_BITS:
            if rest & bit:
                parts.append(name)
                rest &= ~bit
        if rest:
            parts.append(hex(rest))
        text = "|".join(parts)
        if len(_FFLAG_NAMES) < 4096:
            _FFLAG_NAMES[fflag] = text
    return text


@extractor("exec",
           ints=("cmdline_count", "env_count", "caller_pidversion", "image_cputype", "image_cpusubtype"),
           objs=("cmdline", "env", "cwd", "caller_path", "script", "dyld_exec_path"))
def _exec(msg: IngestMessage, e: ExecEvent, caller: ProcessContext):
    return e.target, (
        len(e.args), len(e.env), caller.pidversion, e.image_cputype, e.image_cpusubtype,
    ), (
        quote_join(e.args), quote_join(e.env),
        e.cwd.path if e.cwd is not None else None,
        caller.path,
        e.script.path if e.script is not None else None,
        e.dyld_exec_path or None,
    )


@extractor("open", ints=("fflag",), objs=("filename", "fflag_names"))
def _open(msg: IngestMessage, e: OpenEvent, actor: ProcessContext):
    return None, (e.fflag,), (e.file.path, fflag_names(e.fflag))


@extractor("write", objs=("filename",))
def _write(msg: IngestMessage, e: WriteEvent, actor: ProcessContext):
    return None, (), (e.target.path,)


@extractor("iokit_open", ints=("user_client_type",), objs=("user_client_class", "parent_path", "parent_registry_id"))
def _iokit_open(msg: IngestMessage, e: IOKitOpenEvent, actor: ProcessContext):
    reg = e.parent_registry_id
    return None, (e.user_client_type,), (
        e.user_client_class, e.parent_path, None if reg is None else str(reg),
    )


@extractor("fork", ints=("child_pid", "child_pidversion"))
def _fork(msg: IngestMessage, e: ForkEvent, actor: ProcessContext):
    t = token_fields(e.child.audit_token)
    return None, (t[5], t[7]), ()


@extractor("exit", ints=("exit_code", "exit_status", "term_signal"))
def _exit(msg: IngestMessage, e: ExitEvent, actor: ProcessContext):
    st = e.stat
    low = st & 0x7F
    status = (st >> 8) & 0xFF if low == 0 else None  # WIFEXITED / WEXITSTATUS
    signal = low if low not in (0, 0x7F) else None  # WIFSIGNALED / WTERMSIG
    return None, (st, status, signal), ()
