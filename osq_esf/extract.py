"""Extractors: one decoded event body -> the table's own column values, in layout order.

An extractor is called as ``fn(msg, ev, actor_ctx, users)`` and returns ``(process, ints,
objs)``: the :class:`~osq_esf.decode.Process` whose context describes the row (None for the
acting process), then the table's own numeric and text columns in the order of its
:class:`~osq_esf.layout.RowLayout`.  ``users`` resolves a uid to a user name on a live
source and is None on a replay.

Most tables get a *generic* extractor compiled from their declaration
(:func:`compile_generic`): straight-line code that follows each column's source path
with None checks, applies its transform and message-version gate, and names enum values.
exec, open and write, the busiest, are written by hand (:data:`HAND_WRITTEN`); their
declared outputs are checked against the layout, name by name and in order, when the
pipeline is built, and the contract tests run every extractor over generated messages of
every message version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import msgspec
from msgspec import Struct

from osq_esf.bodies import attribute
from osq_esf.decode import DecodeError, File, Int, Process, fits_64_bits, parse_time, raw_json
from osq_esf.layout import RowLayout
from osq_esf.process import ProcessContext, token_fields
from osq_esf.schema import Enum, SpecError, TableSpec, load_enums


def quote_join(items: list[str]) -> str:
    """Join argv/env like osquery (quote items with a space or quote), minus its trailing space."""
    out = []
    for s in items:
        if " " in s or '"' in s:
            s = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(s)
    return " ".join(out)


# open's fflag by name: ``FREAD|FWRITE|O_CREAT`` (tables/_enums.toml open_fflags, cached per mask).
fflag_names = load_enums()["open_fflags"].name_of


# -- hand-written extractors -------------------------------------------------------------

class Stat(Struct, frozen=True, gc=False, kw_only=True):
    """The few stat fields a detection needs (the rest of eslogger's block is skipped)."""

    st_uid: Optional[Int] = None
    st_gid: Optional[Int] = None
    st_mode: Optional[Int] = None
    st_birthtimespec: Optional[str] = None


class StatFile(File, frozen=True, gc=False):
    stat: Optional[Stat] = None


class ExecTarget(Process, frozen=True, gc=False, kw_only=True):
    """exec's new image: a process whose executable's stat is read too."""

    executable: StatFile


class Fd(Struct, gc=False, kw_only=True):
    fd: Int = -1
    fdtype: Int = -1


class ExecEvent(Struct, gc=False, kw_only=True):
    target: ExecTarget
    args: list[str] = []
    env: list[str] = []
    cwd: Optional[File] = None
    script: Optional[File] = None
    dyld_exec_path: Optional[str] = None
    last_fd: Optional[Int] = None
    image_cputype: Optional[Int] = None
    image_cpusubtype: Optional[Int] = None
    fds: Optional[list[Fd]] = None
    entitlements: msgspec.Raw = msgspec.Raw()  # empty when absent (msgspec takes no Optional[Raw])
    # Written by the native shim when it had to cut an argument or variable to fit its line budget.
    args_truncated: Optional[bool] = None
    env_truncated: Optional[bool] = None


class OpenEvent(Struct, gc=False):
    fflag: Int
    file: File


class WriteEvent(Struct, gc=False):
    target: File


# mach/machine.h
CPU_ARCH_ABI64 = 0x01000000
CPU_TYPES = {7: "i386", 7 | CPU_ARCH_ABI64: "x86_64", 12: "arm", 12 | CPU_ARCH_ABI64: "arm64",
             12 | 0x02000000: "arm64_32"}
CPU_SUBTYPE_ARM64E = 2
CPU_SUBTYPE_MASK = 0xFF000000  # capability bits (pointer-auth ABI) above the subtype


def image_arch(cputype: int | None, cpusubtype: int | None) -> str | None:
    """``arm64``, ``arm64e``, ``x86_64`` (on Apple silicon: Rosetta), ...; None when unknown."""
    if cputype is None:
        return None
    name = CPU_TYPES.get(cputype)
    if name == "arm64" and cpusubtype is not None and cpusubtype & ~CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E:
        return "arm64e"
    return name


# sys/proc_info.h PROX_FDTYPE_*
FD_TYPES = {0: "atalk", 1: "vnode", 2: "socket", 3: "pshm", 4: "psem", 5: "kqueue", 6: "pipe", 7: "fsevents",
            9: "netpolicy", 10: "channel", 11: "nexus"}


def stdio_types(fds: list | None) -> str | None:
    """``vnode,pipe,socket``: the types of fds 0, 1 and 2 (``-`` where closed); a socket or
    pipe on stdin/stdout is a reverse shell's tell."""
    if fds is None:
        return None
    kinds = ["-", "-", "-"]
    for f in fds:
        if 0 <= f.fd <= 2:
            kinds[f.fd] = FD_TYPES.get(f.fdtype, str(f.fdtype))
    return ",".join(kinds)


def _stat_time(text: str | None) -> int | None:
    return parse_time(text)[0] if text else None


EXEC_INTS = ("cmdline_count", "env_count", "caller_pidversion", "image_cputype", "image_cpusubtype", "last_fd",
             "exe_uid", "exe_gid", "exe_mode", "exe_birth_time", "args_truncated", "env_truncated")
EXEC_OBJS = ("cmdline", "env", "cwd", "caller_path", "caller_signing_id", "caller_team_id", "script",
             "dyld_exec_path", "image_arch", "stdio_types", "entitlements", "username")


def _exec(msg, e: ExecEvent, caller: ProcessContext, users):
    """es_exec's row; fields newer than the message's version are NULL even when present."""
    target = e.target
    st = target.executable.stat
    if st is None:
        exe = (None, None, None, None)
    else:
        exe = (st.st_uid, st.st_gid, st.st_mode, _stat_time(st.st_birthtimespec))
    version = msg.version
    v4, v6 = version >= 4, version >= 6
    cputype, cpusubtype = (e.image_cputype, e.image_cpusubtype) if v6 else (None, None)
    # exec is the hot path, and only eslogger writes entitlements (v11): its own text is kept
    ents = raw_json(e.entitlements, canonical=False) if version >= 11 else None
    # The uid of the new image (exec can change it through a setuid binary).
    uid = token_fields(target.audit_token)[3] if users is not None else None
    return target, (
        len(e.args), len(e.env), caller.pidversion, cputype, cpusubtype, e.last_fd if v4 else None, *exe,
        e.args_truncated, e.env_truncated,
    ), (
        quote_join(e.args), quote_join(e.env),
        e.cwd.path if e.cwd is not None and version >= 3 else None,
        caller.path, caller.signing_id, caller.team_id,
        e.script.path if e.script is not None else None,
        (e.dyld_exec_path or None) if version >= 7 else None,
        image_arch(cputype, cpusubtype),
        stdio_types(e.fds) if v4 else None,
        ents,
        users(uid) if users is not None else None,
    )


def _open(msg, e: OpenEvent, actor: ProcessContext, users):
    return None, (e.fflag,), (e.file.path, fflag_names(e.fflag))


def _write(msg, e: WriteEvent, actor: ProcessContext, users):
    return None, (), (e.target.path,)


@dataclass(frozen=True)
class HandWritten:
    body: type
    ints: tuple[str, ...]
    objs: tuple[str, ...]
    fn: Callable


HAND_WRITTEN: dict[str, HandWritten] = {
    "exec": HandWritten(ExecEvent, EXEC_INTS, EXEC_OBJS, _exec),
    "open": HandWritten(OpenEvent, ("fflag",), ("filename", "fflag_names"), _open),
    "write": HandWritten(WriteEvent, (), ("filename",), _write),
}


# -- transforms of the generic extractor (schema.TRANSFORMS) ------------------------------

def destination_path(d) -> str | None:
    """create/rename's destination as one path: the existing file's, or dir + "/" + name."""
    f = d.existing_file
    if f is not None:
        return f.path
    n = d.new_path
    if n is None or n.filename is None:
        return None
    return path_join(n.dir.path if n.dir is not None else "", n.filename)


def path_join(directory: str, name: str) -> str:
    """A directory's path and a name in it as one path (create/rename's new_path, link, clone,
    copyfile, uipc_bind); a bare name when there is no directory."""
    if not directory:
        return name
    return directory + name if directory.endswith("/") else directory + "/" + name


def number_text(v) -> str:
    """An id ES declares uint64 (msgspec cannot bound it past int64), or a string, as text."""
    if type(v) is str:
        return v
    if not fits_64_bits(v):
        raise DecodeError(f"{v} does not fit 64 bits")
    return str(v)


def exit_status(stat: int) -> int | None:
    """WEXITSTATUS, when the process exited normally."""
    return (stat >> 8) & 0xFF if stat & 0x7F == 0 else None


def term_signal(stat: int) -> int | None:
    """WTERMSIG, when a signal ended the process."""
    low = stat & 0x7F
    return low if low not in (0, 0x7F) else None


TRANSFORM_FUNCTIONS: dict[str, Callable] = {
    "text": number_text,
    "destination_path": destination_path,
    "path_join": path_join,
    "path_or_string": lambda v: v if type(v) is str else v.path,
    "json": raw_json,
    "argv": quote_join,
    "count": len,
    "time": lambda v: parse_time(v)[0],
    "lower": str.lower,
    "exit_status": exit_status,
    "term_signal": term_signal,
}


# -- the generic extractor compiler ----------------------------------------------------------

class _Gen:
    """Source code of one generated extractor, with the values it closes over."""

    def __init__(self, spec: TableSpec):
        self.spec = spec
        self.lines: list[str] = []
        self.env: dict[str, object] = {"token_fields": token_fields}
        self.vars: dict[str, str] = {}  # column name -> local variable

    def const(self, prefix: str, value) -> str:
        name = f"{prefix}_{len(self.env)}"
        self.env[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * (depth + 1) + line)

    def access(self, depth: int, var: str, path: str) -> None:
        """``var = ev.<path>``, None as soon as a step is None."""
        parts = [attribute(p) for p in path.split(".")]
        self.emit(depth, f"{var} = ev.{parts[0]}")
        for i, p in enumerate(parts[1:]):
            self.emit(depth + i, f"if {var} is not None:")
            self.emit(depth + i + 1, f"{var} = {var}.{p}")

    def first_present(self, depth: int, var: str, paths) -> None:
        self.access(depth, var, paths[0])
        for path in paths[1:]:
            self.emit(depth, f"if {var} is None:")
            self.access(depth + 1, var, path)


# Generated code per (layout, enums) object pair (a layout holds its spec): compiling is
# the costly part and every pipeline (a reload, each test) builds ~100 extractors from the
# same kinds; only ``context_of`` differs.  Keyed by identity, checked on a hit.
_COMPILED: dict[tuple[int, int], tuple] = {}


def compile_generic(spec: TableSpec, layout: RowLayout, enums: dict[str, Enum], context_of: Callable):
    """The extractor of a table declared only by sources (see the module docstring).

    ``context_of`` interns a decoded process (the pipeline's ``ProcessPool.get``), so an
    instigator or target that acts in other events shares its context.
    """
    key = (id(layout), id(enums))
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not layout or hit[1] is not enums or layout.spec is not spec:
        if len(_COMPILED) >= 1024:
            _COMPILED.clear()
        hit = _COMPILED[key] = (layout, enums, *_generate(spec, layout, enums))
    _, _, code, src, consts = hit
    env = {**consts, "context_of": context_of}
    exec(code, env)  # the source is built from validated declarations only
    fn = env["extract"]
    fn.source = src
    return fn


def _generate(spec: TableSpec, layout: RowLayout, enums: dict[str, Enum]) -> tuple:
    """(code object, source, the constants it closes over) of a generic extractor."""
    g = _Gen(spec)
    cols = {c.name: c for c in spec.own_columns}
    processes: dict[tuple, str] = {}  # (source, since) -> variable holding its context
    # Whether a process needs its interned context (path, signing...) or only its token's ids,
    # and the audit tokens its pid/pidversion fall back on.
    needs_ctx: dict[tuple, bool] = {}
    tokens: dict[tuple, tuple] = {}
    for c in spec.own_columns:
        if c.process:
            key = (c.source, c.since)
            needs_ctx[key] = needs_ctx.get(key, False) or c.process not in ("pid", "pidversion")
            tokens[key] = tokens.get(key) or c.token
    for c in spec.own_columns:
        var = g.vars[c.name] = f"v{len(g.vars)}"
        depth = 0
        if c.since:
            g.emit(0, f"{var} = None")
            g.emit(0, f"if version >= {c.since}:")
            depth = 1
        if c.resolve == "username":  # the row's process's user, on a live source only
            g.emit(depth, f"{var} = users(actor.uid) if users is not None else None")
        elif c.named:
            base = g.vars[c.named]
            e = enums[c.enum]
            if e.bits:
                g.emit(depth, f"{var} = {g.const('enum', e.name_of)}({base})")
            else:
                g.emit(depth, f"{var} = {g.const('enum', e.values)}.get({base}) if {base} is not None else None")
        elif c.process:
            key = (c.source, c.since)
            pvar = processes.get(key)
            if pvar is None:
                pvar = processes[key] = f"p{len(processes)}"
                _process(g, depth, pvar, c.source, tokens[key], needs_ctx[key])
            if c.process in ("pid", "pidversion"):
                g.emit(depth, f"{var} = {pvar}_{c.process}")
            else:
                g.emit(depth, f"{var} = {pvar}.{_CTX_ATTR[c.process]} if {pvar} is not None else None")
        elif c.transform == "path_join":  # NULL unless both the directory and the name are there
            g.access(depth, var, c.source[0])
            g.access(depth, var + "_name", c.source[1])
            g.emit(depth, f"if {var} is not None and {var}_name is not None:")
            g.emit(depth + 1, f"{var} = {g.const('t', path_join)}({var}, {var}_name)")
            g.emit(depth, "else:")
            g.emit(depth + 1, f"{var} = None")
        else:
            g.first_present(depth, var, c.source)
            if c.transform:
                fn = g.const("t", TRANSFORM_FUNCTIONS[c.transform])
                g.emit(depth, f"if {var} is not None:")
                g.emit(depth + 1, f"{var} = {fn}({var})")
    for name in (*layout.own_ints, *layout.own_objs):
        if name not in cols:
            raise SpecError(f"{spec.name}: the layout has {name}, the declaration does not")
    ints = "".join(f"{g.vars[n]}, " for n in layout.own_ints)
    objs = "".join(f"{g.vars[n]}, " for n in layout.own_objs)
    g.emit(0, f"return None, ({ints}), ({objs})")
    src = "def extract(msg, ev, actor, users):\n    version = msg.version\n" + "\n".join(g.lines) + "\n"
    return compile(src, f"<extractor {spec.name}>", "exec"), src, g.env


_CTX_ATTR = {"path": "path", "signing_id": "signing_id", "team_id": "team_id", "platform_binary": "platform_binary"}


def _process(g: _Gen, depth: int, pvar: str, source: tuple, token: tuple, need_ctx: bool) -> None:
    """``pvar`` = the interned context of the first process present at ``source`` (None when null,
    or when only its ids are needed), with ``pvar_pid`` and ``pvar_pidversion`` from its audit
    token or, when the process is null, from the first declared fallback token present."""
    raw = f"{pvar}_raw"
    if source:
        g.first_present(depth, raw, source)
    else:  # an audit token alone
        g.emit(depth, f"{raw} = None")
    g.emit(depth, f"{pvar} = {pvar}_pid = {pvar}_pidversion = None")
    g.emit(depth, f"if {raw} is not None:")
    if need_ctx:
        g.emit(depth + 1, f"{pvar} = context_of({raw})")
        g.emit(depth + 1, f"{pvar}_pid, {pvar}_pidversion = {pvar}.pid, {pvar}.pidversion")
    else:
        g.emit(depth + 1, f"{pvar}_tf = token_fields({raw}.audit_token)")
        g.emit(depth + 1, f"{pvar}_pid, {pvar}_pidversion = {pvar}_tf[5], {pvar}_tf[7]")
    if token:
        tok = f"{pvar}_tok"
        g.emit(depth, "else:")
        g.first_present(depth + 1, tok, token)
        g.emit(depth + 1, f"if {tok} is not None:")
        g.emit(depth + 2, f"{tok} = token_fields({tok})")
        g.emit(depth + 2, f"{pvar}_pid, {pvar}_pidversion = {tok}[5], {tok}[7]")


def build_extractor(spec: TableSpec, layout: RowLayout, enums: dict[str, Enum], context_of: Callable) -> Callable:
    """The extractor a spec declares: hand-written (outputs checked against the layout) or generic."""
    if spec.extractor:
        hw = HAND_WRITTEN.get(spec.extractor)
        if hw is None:
            raise SpecError(f"{spec.name}: no hand-written extractor {spec.extractor!r} "
                            f"(there are: {', '.join(HAND_WRITTEN)})")
        if hw.ints != layout.own_ints or hw.objs != layout.own_objs:
            raise SpecError(f"{spec.name}: the hand-written {spec.extractor} extractor writes {hw.ints} and {hw.objs}; "
                            f"the declaration orders its columns as {layout.own_ints} and {layout.own_objs}")
        return hw.fn
    return compile_generic(spec, layout, enums, context_of)
