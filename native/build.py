"""cffi API-mode builder of ``_esf_native``: the shim over libEndpointSecurity.

On a Mac the package build compiles it (setup.py's ``cffi_modules`` names
``native/build.py:ffibuilder``), so it lands in the wheel as ``osq_esf._esf_native``,
never in the source tree.  By hand (native/README.md)::

    python native/build.py --out DIR          # -> DIR/_esf_native.*.so

links ``-lEndpointSecurity -lbsm`` for macOS 11 and later (MACOS_MIN), whatever
deployment target the Python that builds it has.  ``--simulator`` builds the same shim
against the simulated ES in native/sim/ instead (any OS with a C compiler); tests do
that into a temporary directory.  ``--emit-c`` only writes the generated C, for
native/check-sdk.sh.  Build scripts stay out of the wheel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
MODULE = "_esf_native"
PACKAGE_MODULE = "osq_esf._esf_native"
MACOS_MIN = "11.0"  # the oldest macOS the shim supports; newer calls are behind __builtin_available

# Integer and struct types the simulated header takes from system headers; cffi
# learns their sizes from the compiler (``...``).
SIM_CDEF_PRELUDE = """
typedef int... pid_t; typedef int... uid_t; typedef int... gid_t; typedef int... mode_t;
typedef int... dev_t; typedef int... time_t; typedef int... suseconds_t;
typedef int... cpu_type_t; typedef int... cpu_subtype_t; typedef int... user_addr_t; typedef int... user_size_t;
typedef unsigned char uuid_t[16];
struct timespec { time_t tv_sec; long tv_nsec; ...; };
struct timeval { time_t tv_sec; suseconds_t tv_usec; ...; };
typedef struct { unsigned int val[8]; } audit_token_t;
"""


def cdef_of(header: Path) -> str:
    """The declarations between ``/* cdef-begin */`` and ``/* cdef-end */``: one source of truth."""
    text = header.read_text()
    start, end = text.index("/* cdef-begin */"), text.index("/* cdef-end */")
    return text[start + len("/* cdef-begin */"):end]


def make_ffi(simulator: bool = False, module: str = MODULE, sim_sdk: int | None = None) -> FFI:
    """The module's FFI; ``sim_sdk`` (e.g. 130300) makes the simulator pretend to be that SDK,
    so the shim compiles without the event types and fields that SDK lacks."""
    ffi = FFI()
    cdef = cdef_of(HERE / "esf_shim.h")
    source = '#include "esf_shim.h"\n'
    sources = [str(HERE / "esf_shim.c")]
    include_dirs = [str(HERE)]
    link_args: list[str] = []
    if simulator:
        # The simulated <EndpointSecurity/...>, <bsm/...> and <mach/...> come first on the
        # path; tests build messages from the simulated types, so they are in the cdef too.
        cdef = (SIM_CDEF_PRELUDE + cdef_of(HERE / "sim" / "EndpointSecurity" / "EndpointSecurity.h")
                + cdef + cdef_of(HERE / "sim" / "es_sim.h"))
        source += '#include "es_sim.h"\n'
        sources.append(str(HERE / "sim" / "es_sim.c"))
        include_dirs.insert(0, str(HERE / "sim"))
        libraries = ["pthread"] if sys.platform != "darwin" else []
        extra = ["-O2", "-Wall"] + ([f"-D__MAC_OS_X_VERSION_MAX_ALLOWED={sim_sdk}"] if sim_sdk else [])
    else:
        libraries = ["EndpointSecurity", "bsm"]
        extra = ["-O2", "-Wall", "-fblocks", f"-mmacosx-version-min={MACOS_MIN}"]
        link_args = [f"-mmacosx-version-min={MACOS_MIN}"]
    ffi.cdef(cdef)
    ffi.set_source(module, source, sources=sources, include_dirs=include_dirs, libraries=libraries,
                   extra_compile_args=extra, extra_link_args=link_args)
    return ffi


# The macOS build, as the package build (setup.py) and native/check-sdk.sh use it.
ffibuilder = make_ffi(simulator=False, module=PACKAGE_MODULE)


def build(out_dir: str | Path, simulator: bool = False, verbose: bool = False, sim_sdk: int | None = None) -> Path:
    """Compile the module and put only the extension file into ``out_dir``; returns its path.

    The generated C and object files stay in a temporary directory.  The macOS build
    runs with MACOSX_DEPLOYMENT_TARGET set to MACOS_MIN: setuptools otherwise passes on
    the deployment target of the Python doing the build (D1 in native/README.md).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("MACOSX_DEPLOYMENT_TARGET")
    if not simulator:
        os.environ["MACOSX_DEPLOYMENT_TARGET"] = MACOS_MIN
    try:
        with tempfile.TemporaryDirectory(prefix="esf-build-") as work:
            built = Path(make_ffi(simulator, sim_sdk=sim_sdk).compile(tmpdir=work, verbose=verbose))
            dest = out_dir / built.name
            shutil.copy2(built, dest)
    finally:
        if not simulator:
            if saved is None:
                os.environ.pop("MACOSX_DEPLOYMENT_TARGET", None)
            else:
                os.environ["MACOSX_DEPLOYMENT_TARGET"] = saved
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
