#!/bin/sh
# Build and sign osq-esf.app: the entitled launcher around the bundled Python (macOS).
#
#   native/launcher/build.sh --out DIR --python PREFIX
#                            [--sign IDENTITY --team TEAMID --profile PROFILE]
#                            [--bundle-id ID] [--version VERSION]
#
#   --out DIR        where osq-esf.app is written (DIR/osq-esf.app; an old one is replaced)
#   --python PREFIX  a relocatable CPython prefix (python-build-standalone layout: bin/python3,
#                    lib/libpython3.X.dylib, lib/python3.X/site-packages) with osq-esf and its
#                    dependencies installed; it is copied to Contents/Resources/python
#   --sign IDENTITY  codesign identity, e.g. "Developer ID Application: Org (TEAMID)"; then
#                    --team and --profile are required.  "-" signs ad hoc, for a test VM with
#                    SIP disabled only (no Team ID, no profile, no hardened runtime).
#                    Without --sign the bundle is left unsigned.
#   --team TEAMID    the identity's Team ID; every nested .so/.dylib is checked to carry it
#   --profile FILE   provisioning profile granting com.apple.developer.endpoint-security.client
#                    for TEAMID.BUNDLE-ID; embedded as Contents/embedded.provisionprofile
#   --bundle-id ID   CFBundleIdentifier (default com.osq-esf.agent); must match the profile
#   --version V      CFBundleShortVersionString (default: osq_esf.__version__ from PREFIX)
#
# Order (Apple: sign nested code first, then the bundle): every Mach-O file under
# Contents/Resources/python, then the bundle with the entitlements, hardened runtime and
# a secure timestamp.  Needs Xcode's command-line tools (clang, codesign, security).
# Written from Apple's documentation; run on a Mac only, so the signing steps are
# unverified here (native/README.md lists what is).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT= PYTHON= SIGN= TEAM= PROFILE= BUNDLE_ID=com.osq-esf.agent VERSION=

usage() {
    sed -n "2,20p" "$0" | sed "s/^# \{0,1\}//" >&2
    exit 2
}
die() { echo "build.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=${2:?}; shift 2 ;;
        --python) PYTHON=${2:?}; shift 2 ;;
        --sign) SIGN=${2:?}; shift 2 ;;
        --team) TEAM=${2:?}; shift 2 ;;
        --profile) PROFILE=${2:?}; shift 2 ;;
        --bundle-id) BUNDLE_ID=${2:?}; shift 2 ;;
        --version) VERSION=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "build.sh: unknown argument $1" >&2; usage ;;
    esac
done
[ -n "$OUT" ] && [ -n "$PYTHON" ] || usage
if [ -n "$SIGN" ] && [ "$SIGN" != "-" ]; then
    [ -n "$TEAM" ] && [ -n "$PROFILE" ] || die "--sign with an identity needs --team and --profile (the ES entitlement is granted only through a provisioning profile)"
    [ -f "$PROFILE" ] || die "no provisioning profile at $PROFILE"
fi
[ "$(uname -s)" = Darwin ] || die "builds a Mach-O launcher and signs it: run on macOS (native/check-sdk.sh compile-checks the launcher on Linux)"
[ -x "$PYTHON/bin/python3" ] || die "$PYTHON/bin/python3 not found: --python must be a CPython install prefix"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/osq-esf-bundle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
[ -n "$VERSION" ] || VERSION=$("$PYTHON/bin/python3" -I -c 'import osq_esf; print(osq_esf.__version__)')

# A universal launcher for macOS 11 and later; it links nothing but libSystem (libpython is dlopened).
${CC:-xcrun clang} -arch arm64 -arch x86_64 -mmacosx-version-min=11.0 -O2 -Wall -Wextra -Werror \
    -o "$WORK/osq-esf" "$HERE/launcher.c"

set -- --out "$OUT" --launcher "$WORK/osq-esf" --python "$PYTHON" --bundle-id "$BUNDLE_ID" --version "$VERSION" \
    --entitlements-out "$WORK/entitlements.plist"
[ -n "$TEAM" ] && set -- "$@" --team "$TEAM"
[ -n "$PROFILE" ] && set -- "$@" --profile "$PROFILE"
APP=$("$PYTHON/bin/python3" -I "$HERE/bundle.py" "$@")
echo "assembled $APP"

if [ -z "$SIGN" ]; then
    echo "not signed (no --sign): it cannot create an ES client until it is"
    exit 0
fi

if [ "$SIGN" = "-" ]; then
    OPTS=""  # ad hoc: no timestamp, no hardened runtime (library validation needs a Team ID)
else
    OPTS="--options runtime --timestamp"
    # The profile must grant the entitlement to this team (security cms decodes it).
    security cms -D -i "$PROFILE" > "$WORK/profile.plist"
    "$PYTHON/bin/python3" -I - "$WORK/profile.plist" "$TEAM" "$BUNDLE_ID" <<'EOF' || die "the provisioning profile does not fit (see above)"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
ent, team, bundle = p.get("Entitlements", {}), sys.argv[2], sys.argv[3]
problems = []
if not ent.get("com.apple.developer.endpoint-security.client"):
    problems.append("it does not grant com.apple.developer.endpoint-security.client")
if team not in p.get("TeamIdentifier", []):
    problems.append(f"its TeamIdentifier is {p.get('TeamIdentifier')}, not {team}")
app_id = ent.get("com.apple.application-identifier", "")
if app_id not in (f"{team}.{bundle}", f"{team}.*"):
    problems.append(f"its App ID is {app_id!r}, not {team}.{bundle}")
for x in problems:
    print("build.sh: provisioning profile: " + x, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
fi

# Nested code first: every shared library and executable of the bundled Python.
find "$APP/Contents/Resources/python" -type f \( -name '*.so' -o -name '*.dylib' -o -perm -u+x \) |
while IFS= read -r f; do
    case "$(file -b "$f")" in
        *Mach-O*) ;;
        *) continue ;;
    esac
    # shellcheck disable=SC2086
    codesign --force --sign "$SIGN" $OPTS "$f"
    if [ -n "$TEAM" ] && ! codesign -dv "$f" 2>&1 | grep -q "^TeamIdentifier=$TEAM\$"; then
        die "$f is not signed with Team ID $TEAM"
    fi
done
# shellcheck disable=SC2086
codesign --force --sign "$SIGN" $OPTS --entitlements "$WORK/entitlements.plist" "$APP"
codesign --verify --strict --verbose=2 "$APP"
codesign --display --entitlements - "$APP"
echo "signed $APP"
