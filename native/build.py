"""cffi API-mode builder of ``_esf_native``: the shim over libEndpointSecurity.

On a Mac (native/README.md)::

    python native/build.py --out osq_esf          # -> osq_esf/_esf_native.*.so

links ``-lEndpointSecurity -lbsm``.  ``--simulator`` builds the same shim against
the simulated ES in native/sim/ instead (any OS with a C compiler); tests do that
into a temporary directory.  The module-level ``ffibuilder`` is the macOS build,
for native/check-sdk.sh.  Build scripts stay out of the wheel (style-references.md §4).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
MODULE = "_esf_native"


def cdef_of(header: Path) -> str:
    """The declarations between ``/* cdef-begin */`` and ``/* cdef-end */``: one source of truth."""
    text = header.read_text()
    start, end = text.index("/* cdef-begin */"), text.index("/* cdef-end */")
    return text[start + len("/* cdef-begin */"):end]


def make_ffi(simulator: bool = False) -> FFI:
    ffi = FFI()
    cdef = cdef_of(HERE / "esf_shim.h")
    source = '#include "esf_shim.h"\n'
    sources = [str(HERE / "esf_shim.c")]
    include_dirs = [str(HERE)]
    if simulator:
        # The simulated <EndpointSecurity/...> and <bsm/...> come first on the path.
        cdef += cdef_of(HERE / "sim" / "es_sim.h")
        source += '#include "es_sim.h"\n'
        sources.append(str(HERE / "sim" / "es_sim.c"))
        include_dirs.insert(0, str(HERE / "sim"))
        libraries = ["pthread"] if sys.platform != "darwin" else []
        extra = ["-O2", "-Wall"]
    else:
        libraries = ["EndpointSecurity", "bsm"]
        extra = ["-O2", "-Wall", "-fblocks"]
    ffi.cdef(cdef)
    ffi.set_source(MODULE, source, sources=sources, include_dirs=include_dirs, libraries=libraries,
                   extra_compile_args=extra)
    return ffi


ffibuilder = make_ffi(simulator=False)


def build(out_dir: str | Path, simulator: bool = False, verbose: bool = False) -> Path:
    """Compile the module and put only the extension file into ``out_dir``; returns its path.

    The generated C and object files stay in a temporary directory, so building
    into the package (``--out osq_esf``) leaves nothing else there.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="esf-build-") as work:
        built = Path(make_ffi(simulator).compile(tmpdir=work, verbose=verbose))
        dest = out_dir / built.name
        shutil.copy2(built, dest)
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=".", help="directory for the built module (default: .)")
    p.add_argument("--simulator", action="store_true", help="build against native/sim (tests, any OS)")
    p.add_argument("--emit-c", metavar="FILE", help="only write the generated C (no compiler run)")
    args = p.parse_args(argv)
    if args.emit_c:
        make_ffi(args.simulator).emit_c_code(args.emit_c)
        return 0
    if sys.platform != "darwin" and not args.simulator:
        print("build.py: the real shim links libEndpointSecurity, which only macOS has; "
              "use --simulator here, or native/check-sdk.sh for a compile check", file=sys.stderr)
        return 2
    print(build(args.out, args.simulator, verbose=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
