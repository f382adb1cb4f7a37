"""Event sources and the choice of a default per platform.

Platform code is isolated the way psutil/watchdog do it: the macOS-only sources live
in ``eslogger.py`` and ``native.py`` and are imported only when asked for.
"""

from __future__ import annotations

import os
import platform
import sys

from osq_esf.sources.base import Source, SourceError, max_line_of

KINDS = ("replay", "eslogger", "native")
ESLOGGER_MACOS = (13,)  # /usr/bin/eslogger came with macOS 13
NATIVE_MACOS = (11,)  # the native shim's deployment target (native/build.py MACOS_MIN)


def macos_version() -> tuple[int, ...] | None:
    """(13, 4) on macOS 13.4, None elsewhere."""
    if sys.platform != "darwin":
        return None
    ver = platform.mac_ver()[0]
    try:
        return tuple(int(x) for x in ver.split("."))
    except ValueError:
        return None


def macos_text(version: tuple[int, ...] | None, unknown: str = "this macOS") -> str:
    """``macOS 13.4`` for (13, 4); ``unknown`` when the version is not known."""
    return "macOS " + ".".join(map(str, version)) if version else unknown


def default_source_spec(live: str = "auto") -> str | None:
    """The source to run when the command line names none: ``live`` (the config's ``[source] live``)
    when it names one, else eslogger on macOS 13+, native on macOS 11 and 12 (no eslogger there), and
    nothing elsewhere (replay needs a file).  A named source that cannot run here says why itself."""
    if live != "auto":
        return live
    v = macos_version()
    if v is not None and v >= ESLOGGER_MACOS:
        return "eslogger"
    if v is not None and v >= NATIVE_MACOS:
        return "native"
    return None


def make_sources(specs: list[str], sink, speed: float = 0.0, config=None) -> list[Source]:
    """Build sources from --source specs (``replay:PATH``, ``eslogger``, ``native``)."""
    out: list[Source] = []
    replay_paths: list[tuple[str, str]] = []
    for spec in specs:
        kind, _, arg = spec.partition(":")
        if kind == "replay":
            if not arg:
                raise SourceError("replay needs a file: --source replay:PATH (or replay:- for stdin)")
            replay_paths.append((arg, spec))
        elif kind in ("eslogger", "native"):
            if kind == "eslogger":
                # Importable everywhere: off macOS it runs only an explicitly given binary (a
                # test double) and says so when there is none.
                from osq_esf.sources.eslogger import eslogger_sources

                out.extend(eslogger_sources(sink, arg, spec, config))
            elif sys.platform != "darwin" and not os.environ.get("OSQ_ESF_NATIVE_SIM"):
                # $OSQ_ESF_NATIVE_SIM names a simulator build of the shim: tests only (native/README.md).
                raise SourceError(f"the {kind} source needs macOS; on {sys.platform} use --source replay:PATH")
            else:
                from osq_esf.sources.native import native_sources

                out.extend(native_sources(sink, arg, spec, config))
        else:
            raise SourceError(f"unknown source {spec!r}: use one of {', '.join(k + ':…' if k == 'replay' else k for k in KINDS)}")
    if replay_paths:
        from osq_esf.sources.replay import ReplaySource

        # One replay source per file keeps each file's own sequence numbers apart.
        for i, (path, spec) in enumerate(replay_paths):
            name = "replay" if len(replay_paths) == 1 else f"replay{i + 1}"
            out.append(ReplaySource(sink, [path], spec, speed, name=name, max_line=max_line_of(config)))
    return out
