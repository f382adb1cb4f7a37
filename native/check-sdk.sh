#!/bin/sh
# Compile-check the shim against Apple's real macOS SDK on Linux (or a Mac):
#   native/check-sdk.sh SDK_ROOT [TARGET...]
# SDK_ROOT is an unpacked MacOSX SDK (the `root/` of hexops/sdk-macos-13.3, see
# ../shared/reference/macos-sdk-check.md); it must live outside this repository and
# is never committed.  Needs clang and lld (Debian: apt-get install clang lld).
# For each target (default: arm64 and x86_64, macOS 13): esf_shim.c with
# -Wall -Wextra -Werror, a strict dylib link against libEndpointSecurity/libbsm
# (every symbol must exist in the SDK), then the cffi-generated module compiled and
# linked as a Python extension bundle.  Nothing built here can run on Linux, and the
# outputs go to a temporary directory.  NOWERROR=1 drops -Werror.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SDK=${1:-}
if [ -z "$SDK" ]; then
    echo "usage: $0 SDK_ROOT [TARGET...]   (SDK_ROOT: an unpacked MacOSX SDK, e.g. hexops/sdk-macos-13.3's root/)" >&2
    exit 2
fi
shift
if [ ! -f "$SDK/usr/include/EndpointSecurity/EndpointSecurity.h" ] || [ ! -f "$SDK/usr/lib/libEndpointSecurity.tbd" ]; then
    echo "$0: $SDK is not a macOS SDK with EndpointSecurity (no usr/include/EndpointSecurity/EndpointSecurity.h" \
         "or usr/lib/libEndpointSecurity.tbd); see macos-sdk-check.md §1" >&2
    exit 2
fi
REPO=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))
case "$(cd "$SDK" && pwd)/" in
    "$REPO/"*) echo "$0: the SDK must not be inside the repository (it is never committed)" >&2; exit 2 ;;
esac
TARGETS=${*:-arm64-apple-macos13 x86_64-apple-macos13}
CLANG=${CLANG:-clang}
PYTHON=${PYTHON:-python3}
command -v "$CLANG" >/dev/null || { echo "$0: $CLANG not found (apt-get install clang lld)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/esf-sdk-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# clang looks for ld64.lld on PATH for darwin targets; Debian names it ld64.lld-14.
mkdir -p "$WORK/bin"
for cand in ld64.lld ld64.lld-14 /usr/lib/llvm-14/bin/ld64.lld; do
    if command -v "$cand" >/dev/null 2>&1; then ln -sf "$(command -v "$cand")" "$WORK/bin/ld64.lld"; break; fi
done
[ -e "$WORK/bin/ld64.lld" ] || { echo "$0: ld64.lld not found (apt-get install lld)" >&2; exit 2; }
PATH="$WORK/bin:$PATH"
export PATH

if [ -f "$SDK/SDKSettings.json" ]; then
    echo "SDK: $(grep -o '"DisplayName" *: *"[^"]*"' "$SDK/SDKSettings.json" | head -1 | sed 's/.*: *"//; s/"$//') ($SDK)"
fi
WERROR=-Werror
[ "${NOWERROR:-0}" = 1 ] && WERROR=
CFLAGS="-isysroot $SDK -fblocks -fPIC -O2 -Wall -Wextra $WERROR"
PYINC=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')

"$PYTHON" "$HERE/build.py" --emit-c "$WORK/_esf_native.c" >/dev/null
fail=0
step() { # step DESCRIPTION COMMAND...
    what=$1; shift
    if "$@" 2>"$WORK/err"; then echo "ok   $what"; else echo "FAIL $what"; cat "$WORK/err"; fail=1; fi
}
for t in $TARGETS; do
    # shellcheck disable=SC2086
    step "$t: esf_shim.c syntax" "$CLANG" -target "$t" $CFLAGS -I"$HERE" -fsyntax-only "$HERE/esf_shim.c"
    # shellcheck disable=SC2086
    step "$t: esf_shim.c compile" "$CLANG" -target "$t" $CFLAGS -I"$HERE" -c "$HERE/esf_shim.c" -o "$WORK/esf_shim.$t.o"
    step "$t: strict link (every symbol in the SDK)" "$CLANG" -target "$t" -isysroot "$SDK" -fuse-ld=lld -dynamiclib \
        "$WORK/esf_shim.$t.o" -lEndpointSecurity -lbsm -o "$WORK/libcheck.$t.dylib"
    # cffi's generated C is not -Wextra -Werror clean (macos-sdk-check.md §4.2).
    # shellcheck disable=SC2086
    step "$t: cffi module compile" "$CLANG" -target "$t" $CFLAGS -Wno-unused-parameter \
        -Wno-missing-field-initializers -Wno-unused-function -I"$PYINC" -I"$HERE" \
        -c "$WORK/_esf_native.c" -o "$WORK/_esf_native.$t.o"
    step "$t: cffi bundle link" "$CLANG" -target "$t" -isysroot "$SDK" -fuse-ld=lld -bundle -undefined dynamic_lookup \
        "$WORK/esf_shim.$t.o" "$WORK/_esf_native.$t.o" -lEndpointSecurity -lbsm -o "$WORK/_esf_native.$t.so"
done
if [ "$fail" = 0 ]; then echo "SDK check passed for: $TARGETS"; else echo "SDK check FAILED" >&2; fi
exit "$fail"
