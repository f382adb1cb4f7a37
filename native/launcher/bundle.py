"""Assemble osq-esf.app around a built launcher and a relocatable Python prefix.

    python bundle.py --out DIR --launcher FILE --python PREFIX [--bundle-id ID]
                     [--team TEAMID] [--profile FILE] [--version V] [--entitlements-out FILE]

Writes DIR/osq-esf.app::

    Contents/Info.plist                 from Info.plist, with the identifier and version
    Contents/PkgInfo                    APPL????
    Contents/MacOS/osq-esf              the launcher
    Contents/Resources/python/          a copy of PREFIX (symlinks kept)
    Contents/embedded.provisionprofile  --profile, when given

and the entitlements the bundle must be signed with (osq-esf.entitlements, plus the
application and team identifiers when --team is given) to --entitlements-out.
build.sh calls it; it signs nothing and runs on any OS (the tests run it on Linux).
Standard library only: it runs under the bundled Python itself.
"""

from __future__ import annotations

import argparse
import glob
import os
import plistlib
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = "osq-esf.app"
EXECUTABLE = "osq-esf"
DEFAULT_BUNDLE_ID = "com.osq-esf.agent"
_BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*\Z")  # CFBundleIdentifier: alphanumerics, '-' and '.'
_TEAM_ID = re.compile(r"[A-Z0-9]{10}\Z")


def info_plist(bundle_id: str = DEFAULT_BUNDLE_ID, version: str = "0.0.0") -> dict:
    info = plistlib.loads((HERE / "Info.plist").read_bytes())
    info.update(CFBundleIdentifier=bundle_id, CFBundleShortVersionString=version, CFBundleVersion=version)
    return info


def entitlements(bundle_id: str = DEFAULT_BUNDLE_ID, team: str | None = None) -> dict:
    ent = plistlib.loads((HERE / "osq-esf.entitlements").read_bytes())
    if team:  # what a provisioning profile's App ID is checked against
        ent["com.apple.application-identifier"] = f"{team}.{bundle_id}"
        ent["com.apple.developer.team-identifier"] = team
    return ent


def python_problems(prefix: Path) -> list[str]:
    """What the launcher will miss in PREFIX (an empty list when it is a usable prefix)."""
    problems = []
    libs = [p for p in glob.glob(str(prefix / "lib" / "libpython3.*"))
            if re.search(r"libpython3\.\d+\.(dylib|so)", os.path.basename(p))]
    if not libs:
        problems.append(f"{prefix}/lib has no libpython3.X.dylib (a shared-library CPython is needed)")
    if not glob.glob(str(prefix / "lib" / "python3.*" / "site-packages" / "osq_esf" / "__init__.py")):
        problems.append(f"{prefix} has no osq_esf package in lib/python3.X/site-packages")
    return problems


def native_module_missing(prefix: Path) -> bool:
    return not glob.glob(str(prefix / "lib" / "python3.*" / "site-packages" / "osq_esf" / "_esf_native*.so"))


def assemble(out: Path, launcher: Path, prefix: Path, bundle_id: str = DEFAULT_BUNDLE_ID, team: str | None = None,
             profile: Path | None = None, version: str = "0.0.0") -> tuple[Path, dict]:
    """Build the bundle (replacing one already there); returns (its path, its entitlements)."""
    if not _BUNDLE_ID.match(bundle_id):
        raise ValueError(f"bad bundle identifier {bundle_id!r}")
    if team is not None and not _TEAM_ID.match(team):
        raise ValueError(f"bad Team ID {team!r}: ten upper-case letters and digits")
    problems = python_problems(prefix)
    if problems:
        raise ValueError("; ".join(problems))
    app = out / APP
    if app.exists():
        shutil.rmtree(app)
    contents = app / "Contents"
    (contents / "MacOS").mkdir(parents=True)
    (contents / "Resources").mkdir()
    (contents / "Info.plist").write_bytes(plistlib.dumps(info_plist(bundle_id, version)))
    (contents / "PkgInfo").write_text("APPL????")
    shutil.copy2(launcher, contents / "MacOS" / EXECUTABLE)
    os.chmod(contents / "MacOS" / EXECUTABLE, 0o755)
    shutil.copytree(prefix, contents / "Resources" / "python", symlinks=True)
    if profile is not None:
        shutil.copy2(profile, contents / "embedded.provisionprofile")
    return app, entitlements(bundle_id, team)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--launcher", required=True, type=Path)
    ap.add_argument("--python", required=True, type=Path, help="relocatable CPython prefix with osq_esf installed")
    ap.add_argument("--bundle-id", default=DEFAULT_BUNDLE_ID)
    ap.add_argument("--team", help="Team ID (10 characters) of the signing identity and profile")
    ap.add_argument("--profile", type=Path, help="provisioning profile granting the ES entitlement")
    ap.add_argument("--version", default="0.0.0")
    ap.add_argument("--entitlements-out", type=Path)
    a = ap.parse_args(argv)
    try:
        app, ent = assemble(a.out, a.launcher, a.python, a.bundle_id, a.team, a.profile, a.version)
    except (ValueError, OSError) as e:
        print(f"bundle.py: {e}", file=sys.stderr)
        return 2
    if native_module_missing(a.python):
        print("bundle.py: warning: osq_esf has no _esf_native module: --source native will not load "
              "(the macOS package build compiles it)", file=sys.stderr)
    if a.entitlements_out:
        a.entitlements_out.write_bytes(plistlib.dumps(ent))
    print(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
