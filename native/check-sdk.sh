#!/bin/sh
# Compile and link check of every C file of native/ against Apple's real macOS SDK, on
# Linux (or a Mac):
#   native/check-sdk.sh SDK_ROOT [TARGET...]
# SDK_ROOT is an unpacked MacOSX SDK (the root/ of hexops/sdk-macos-13.3 at
# 1615cd09b3a42ae590e05e63251a0e9fbc47bab5); it must live outside this repository and is
# never committed, nor is anything built from it.  Needs clang and lld (Debian:
# apt-get install clang lld).  Default targets: arm64 and x86_64 at macOS 11, the
# deployment target of the shim and the launcher.  For each target:
#   - esf_shim.c with -Wall -Wextra -Werror -Wunguarded-availability (a macOS 12/13 call
#     outside __builtin_available is an error), then a strict dylib link against
#     libEndpointSecurity/libbsm: every symbol must exist in the SDK's .tbd stubs;
#   - the symbols of macOS 12/13 calls must be weak imports, so the module loads on 11;
#   - the cffi-generated module compiled and linked as a Python extension bundle;
#   - the launcher compiled and linked as an executable.
# ES_HEADERS=DIR (a directory holding EndpointSecurity/*.h of a newer SDK, e.g. the
# macOS 26 declarations) adds a compile of esf_shim.c against those headers with
# __MAC_OS_X_VERSION_MAX_ALLOWED=${ES_SDK_VERSION:-260000}, so the code behind the
# newer-SDK guards is checked against Apple's declarations too.
# NOWERROR=1 drops -Werror.  Nothing built here can run on Linux; outputs go to a
# temporary directory.
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
         "or usr/lib/libEndpointSecurity.tbd)" >&2
    exit 2
fi
REPO=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))
for dir in "$SDK" ${ES_HEADERS:+"$ES_HEADERS"}; do
    case "$(cd "$dir" && pwd)/" in
        "$REPO/"*) echo "$0: $dir must not be inside the repository (Apple's headers are never committed)" >&2; exit 2 ;;
    esac
done
TARGETS=${*:-arm64-apple-macos11 x86_64-apple-macos11}
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
[ -e "$WORK/bin/ld64.lld" ] || [ "$(uname -s)" = Darwin ] || { echo "$0: ld64.lld not found (apt-get install lld)" >&2; exit 2; }
PATH="$WORK/bin:$PATH"
export PATH
NM=$(command -v llvm-nm || command -v llvm-nm-14 || echo /usr/lib/llvm-14/bin/llvm-nm)

if [ -f "$SDK/SDKSettings.json" ]; then
    echo "SDK: $(grep -o '"DisplayName" *: *"[^"]*"' "$SDK/SDKSettings.json" | head -1 | sed 's/.*: *"//; s/"$//') ($SDK)"
fi
WERROR=-Werror
[ "${NOWERROR:-0}" = 1 ] && WERROR=
CFLAGS="-isysroot $SDK -fblocks -fPIC -O2 -Wall -Wextra -Wunguarded-availability $WERROR"
echo "flags: $CFLAGS"
PYINC=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')

"$PYTHON" "$HERE/build.py" --emit-c "$WORK/_esf_native.c" >/dev/null
# __builtin_available calls ___isPlatformVersionAtLeast, which Apple's clang links from
# its compiler runtime (libclang_rt.osx.a); Debian's clang has no darwin runtime, so the
# Linux link checks get a stand-in for that one symbol.
printf '%s\n' '#include <stdint.h>' \
    'int32_t __isPlatformVersionAtLeast(uint32_t p, uint32_t a, uint32_t b, uint32_t c) { (void)p; (void)a; (void)b; (void)c; return 1; }' \
    > "$WORK/rt.c"
# Introduced in macOS 12/13: the shim calls them only behind __builtin_available.
NEWER="_es_mute_path _es_mute_path_events _es_unmute_path _es_unmute_path_events _es_unmute_all_target_paths _es_invert_muting _es_muting_inverted"

fail=0
step() { # step DESCRIPTION COMMAND...
    what=$1; shift
    if "$@" 2>"$WORK/err"; then echo "ok   $what"; else echo "FAIL $what"; cat "$WORK/err"; fail=1; fi
}
weak_only() { # weak_only OBJECT: every NEWER symbol the object uses is a weak import
    strong=$("$NM" -m "$1" | grep '(undefined) external _es_' | awk '{print $NF}')
    for s in $NEWER; do
        if printf '%s\n' "$strong" | grep -qx "$s"; then echo "$s is a strong import: the module would not load on macOS 11" >&2; return 1; fi
    done
}
for t in $TARGETS; do
    # shellcheck disable=SC2086
    step "$t: esf_shim.c compile" "$CLANG" -target "$t" $CFLAGS -I"$HERE" -c "$HERE/esf_shim.c" -o "$WORK/esf_shim.$t.o"
    # shellcheck disable=SC2086
    step "$t: runtime stand-in" "$CLANG" -target "$t" $CFLAGS -c "$WORK/rt.c" -o "$WORK/rt.$t.o"
    step "$t: strict link (every symbol in the SDK)" "$CLANG" -target "$t" -isysroot "$SDK" -fuse-ld=lld -dynamiclib \
        "$WORK/esf_shim.$t.o" "$WORK/rt.$t.o" -lEndpointSecurity -lbsm -o "$WORK/libcheck.$t.dylib"
    step "$t: macOS 12/13 symbols are weak imports" weak_only "$WORK/esf_shim.$t.o"
    # cffi's generated C is not -Wextra -Werror clean.
    # shellcheck disable=SC2086
    step "$t: cffi module compile" "$CLANG" -target "$t" $CFLAGS -Wno-unused-parameter \
        -Wno-missing-field-initializers -Wno-unused-function -I"$PYINC" -I"$HERE" \
        -c "$WORK/_esf_native.c" -o "$WORK/_esf_native.$t.o"
    step "$t: cffi bundle link" "$CLANG" -target "$t" -isysroot "$SDK" -fuse-ld=lld -bundle -undefined dynamic_lookup \
        "$WORK/esf_shim.$t.o" "$WORK/_esf_native.$t.o" "$WORK/rt.$t.o" -lEndpointSecurity -lbsm \
        -o "$WORK/_esf_native.$t.so"
    # shellcheck disable=SC2086
    step "$t: launcher compile and link" "$CLANG" -target "$t" $CFLAGS -fuse-ld=lld \
        "$HERE/launcher/launcher.c" -o "$WORK/osq-esf.$t"
    if [ -n "${ES_HEADERS:-}" ]; then
        # shellcheck disable=SC2086
        step "$t: esf_shim.c against $ES_HEADERS (SDK ${ES_SDK_VERSION:-260000})" "$CLANG" -target "$t" $CFLAGS \
            -I"$ES_HEADERS" -D__MAC_OS_X_VERSION_MAX_ALLOWED="${ES_SDK_VERSION:-260000}" -I"$HERE" \
            -c "$HERE/esf_shim.c" -o "$WORK/esf_shim.newer.$t.o"
    fi
done
if [ "$fail" = 0 ]; then echo "SDK check passed for: $TARGETS"; else echo "SDK check FAILED" >&2; fi
exit "$fail"
