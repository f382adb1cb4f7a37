#!/usr/bin/env python3
"""Build the osq-esf macOS package: a signed, notarizable .pkg carrying its own Python.

    python3 packaging/macos/build.py --payload-only --out DIR     # any OS: the payload tree, scripts, plists
    python3 packaging/macos/build.py --out DIR [--sign "Developer ID Application: ..." --team TEAMID \
        --profile embedded.provisionprofile --installer-sign "Developer ID Installer: ..." \
        --notary-profile PROFILE]                                 # on a Mac with Xcode's command-line tools
    python3 packaging/macos/build.py --out DIR --sign -          # ad hoc: a test VM with SIP disabled only
    python3 packaging/macos/build.py --dry-run --out DIR          # print the Mac commands, run none

Runs with the Mac's own /usr/bin/python3 (3.9): standard library only, no 3.10 syntax.

What a full build does (docs/packaging.md explains each step and what is unverified):

1. payload: /opt/osq-esf/{bin,share,etc} from packaging/ (the only step --payload-only runs);
2. runtime: python-build-standalone CPython (pinned below, SHA-256 checked), one per architecture;
3. osq-esf[native] and its dependencies pip-installed into each; on a Mac the wheel build compiles the
   cffi module `osq_esf._esf_native` (setup.py's cffi_modules, native/build.py), never into the source tree;
4. the two trees merged into one universal2 tree with `lipo` (merge_universal);
5. the app bundle opt/osq-esf/osq-esf.app (launcher, Info.plist, the runtime in Contents/Resources/python,
   signing with the ES entitlement and profile) by native/launcher/build.sh;
6. pkgbuild (component plist: the bundle is not relocatable), productbuild (Distribution.xml),
   productsign, notarytool, stapler;
7. beside the .pkg: osq_esf.ext for Fleet's `extensions:` route, and the standalone daemon's Full Disk
   Access profile for the signing team.
"""

import argparse
import hashlib
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGING = os.path.dirname(HERE)
REPO = os.path.dirname(PACKAGING)

IDENTIFIER = "com.osq-esf.pkg"
INSTALL_ROOT = "opt/osq-esf"  # relative to the payload root, which installs at /
APP = INSTALL_ROOT + "/osq-esf.app"
LAUNCHER = APP + "/Contents/MacOS/osq-esf"
PYTHON_PREFIX = APP + "/Contents/Resources/python"

# python-build-standalone: CPython 3.12.7, release 20241008, install_only_stripped, one per architecture.
# SHA-256 as published with the release and recorded in astral-sh/uv crates/uv-python/download-metadata.json
# (@f6fd849f). Python 3.12: the project needs 3.10+; 3.12 has wheels for every dependency on both arches.
PYTHON_VERSION = "3.12.7"
PYTHON_RELEASE = "20241008"
PYTHON_BUILDS = {
    "arm64": ("aarch64-apple-darwin", "dc1f4d80c9b4ae40ba2c725e310e61446f8f778a7bea4efa56e4b1b4446e0a1a"),
    "x86_64": ("x86_64-apple-darwin", "7091bd9ce844bcbceb8f3466a9c9583a139f79edd3b0cbed82f7423d333b2d4b"),
}
PYTHON_URL = ("https://github.com/astral-sh/python-build-standalone/releases/download/{release}/"
              "cpython-{version}%2B{release}-{triple}-install_only_stripped.tar.gz")

# The payload, as the package installs it: (path under the payload root, source in the repo, mode).
# Directories are 0755; everything is root:wheel (pkgbuild --ownership recommended, and postinstall).
FILES = [
    (INSTALL_ROOT + "/bin/osq_esf.ext", "packaging/osq_esf.ext", 0o755),
    (INSTALL_ROOT + "/bin/osq-esf", "packaging/macos/root/osq-esf", 0o755),
    (INSTALL_ROOT + "/bin/osq-esf-standalone", "packaging/macos/root/osq-esf-standalone", 0o755),
    (INSTALL_ROOT + "/bin/osq-esf-mode", "packaging/macos/root/osq-esf-mode", 0o755),
    (INSTALL_ROOT + "/bin/osq-esf-uninstall", "packaging/macos/root/osq-esf-uninstall", 0o755),
    (INSTALL_ROOT + "/share/launchd/com.osq-esf.standalone.plist", "packaging/macos/com.osq-esf.standalone.plist",
     0o644),
    (INSTALL_ROOT + "/share/osq-esf.example.toml", "packaging/osq-esf.example.toml", 0o644),
    (INSTALL_ROOT + "/LICENSE", "LICENSE", 0o644),
]
PACKS_DIR = INSTALL_ROOT + "/share/packs"  # every packaging/packs/*.conf, 0644
EMPTY_DIRS = [INSTALL_ROOT + "/etc"]  # the admin's osq-esf.toml goes here; the package never ships one
SCRIPTS = ["preinstall", "postinstall"]
# Made by the Mac-only steps (runtime, bundle), so absent from --payload-only.
MAC_BUILT = [LAUNCHER, APP + "/Contents/Info.plist", PYTHON_PREFIX + "/bin/python3"]
OWNER = "root:wheel"


class BuildError(RuntimeError):
    pass


def version():
    """The package version: osq_esf.__version__ (read, not imported: this runs on the Mac's own Python)."""
    with open(os.path.join(REPO, "osq_esf", "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise BuildError("no __version__ in osq_esf/__init__.py")


# -- 1. payload --------------------------------------------------------------------------

def payload_entries():
    """(payload path, source path or None for a directory, mode) for everything --payload-only lays out."""
    entries = [(dest, os.path.join(REPO, src), mode) for dest, src, mode in FILES]
    packs = sorted(f for f in os.listdir(os.path.join(PACKAGING, "packs")) if f.endswith(".conf"))
    entries += [(PACKS_DIR + "/" + f, os.path.join(PACKAGING, "packs", f), 0o644) for f in packs]
    entries += [(d, None, 0o755) for d in EMPTY_DIRS]
    return entries


def assemble_payload(out):
    """Lay out the payload tree under out/payload and the installer scripts under out/scripts."""
    payload, scripts = os.path.join(out, "payload"), os.path.join(out, "scripts")
    for directory in (payload, scripts):
        if os.path.exists(directory):
            shutil.rmtree(directory)
        os.makedirs(directory)
    for dest, src, mode in payload_entries():
        target = os.path.join(payload, dest)
        if src is None:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(src, target)
        os.chmod(target, mode)
    for root, dirs, _ in os.walk(payload):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(payload, 0o755)
    for name in SCRIPTS:
        shutil.copyfile(os.path.join(HERE, "scripts", name), os.path.join(scripts, name))
        os.chmod(os.path.join(scripts, name), 0o755)
    write_manifest(payload, os.path.join(out, "payload-manifest.txt"))
    return payload, scripts


def write_manifest(payload, path):
    """mode owner path, one line each, as the installed package will have them (pkgbuild applies the owner)."""
    lines = []
    for root, dirs, files in os.walk(payload):
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(root, name)
            rel = "/" + os.path.relpath(full, payload)
            lines.append("%04o %s %s" % (stat.S_IMODE(os.lstat(full).st_mode), OWNER, rel))
    with open(path, "w") as f:
        f.write("\n".join(sorted(lines, key=lambda line: line.split(" ", 2)[2])) + "\n")


# -- running commands ------------------------------------------------------------------

class Runner:
    """Runs commands, or with dry_run only prints them (so the Mac steps can be read and tested anywhere)."""

    def __init__(self, dry_run):
        self.dry_run = dry_run
        self.commands = []

    def run(self, argv, env=None):
        self.commands.append(list(argv))
        print("+ " + " ".join(shlex.quote(a) for a in argv), flush=True)
        if not self.dry_run:
            subprocess.run(argv, check=True, env=env)


# -- 2-4. runtime ------------------------------------------------------------------------

def fetch_python(arch, work, runner):
    triple, digest = PYTHON_BUILDS[arch]
    url = PYTHON_URL.format(release=PYTHON_RELEASE, version=PYTHON_VERSION, triple=triple)
    prefix = os.path.join(work, "python-" + arch)
    print("+ fetch %s (sha256 %s)" % (url, digest), flush=True)
    if runner.dry_run:
        return prefix
    archive = os.path.join(work, os.path.basename(url).replace("%2B", "+"))
    with urllib.request.urlopen(url, timeout=300) as response, open(archive, "wb") as f:
        shutil.copyfileobj(response, f)
    with open(archive, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != digest:
        raise BuildError("%s: sha256 %s, expected %s" % (url, got, digest))
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():  # the archive's top directory is python/
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise BuildError("%s: unsafe path %s in the archive" % (archive, member.name))
        tar.extractall(work)
    os.rename(os.path.join(work, "python"), prefix)
    return prefix


def site_packages(prefix):
    return os.path.join(prefix, "lib", "python" + PYTHON_VERSION.rsplit(".", 1)[0], "site-packages")


def install_into(prefix, arch, runner):
    """osq-esf[native] and its dependencies into one architecture's runtime.  On macOS the wheel
    build compiles the native shim's cffi module (setup.py's cffi_modules), so it comes with it."""
    python = [os.path.join(prefix, "bin", "python3")]
    if arch == "x86_64" and os.uname().machine == "arm64":
        python = ["arch", "-x86_64"] + python  # Rosetta 2 on an Apple silicon build Mac
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", ARCHFLAGS="-arch " + arch)
    runner.run(python + ["-m", "pip", "install", "--no-compile", "--no-cache-dir", "--no-warn-script-location",
                         REPO + "[native]"], env=env)
    package = os.path.join(site_packages(prefix), "osq_esf")
    if not runner.dry_run and not any(n.startswith("_esf_native") and n.endswith(".so") for n in os.listdir(package)):
        raise BuildError("pip built no osq_esf/_esf_native*.so for %s: the wheel build compiles it on macOS "
                         "(setup.py cffi_modules, native/build.py); check its compiler output above" % arch)


MACHO_MAGICS = {b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xce",
                b"\xca\xfe\xba\xbe", b"\xbe\xba\xfe\xca"}
# Text files that legitimately differ between the two architectures' trees: the arm64 copy is kept.
ARCH_SPECIFIC_TEXT = ("_sysconfigdata_", "/RECORD", "/config-", ".pc", "Makefile", "/python-config",
                      "/python3-config", "-config")


def is_macho(path):
    with open(path, "rb") as f:
        return f.read(4) in MACHO_MAGICS


def merge_universal(arm, x86, out, runner, lipo="lipo"):
    """One universal2 tree from two single-architecture trees of the same files.

    Mach-O files are joined with `lipo -create`; other files must be identical, except the few that record
    the build architecture (ARCH_SPECIFIC_TEXT), where the arm64 copy is kept; symlinks must agree. A file
    present in one tree only is an error: the trees must have been built from the same inputs.
    """
    def walk(top):
        found = {}
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                full = os.path.join(root, name)
                if os.path.isdir(full) and not os.path.islink(full):
                    continue
                found[os.path.relpath(full, top)] = full
        return found

    left, right = walk(arm), walk(x86)
    if set(left) != set(right):
        raise BuildError("the arm64 and x86_64 trees differ in files: %s"
                         % sorted(set(left) ^ set(right))[:10])
    for rel in sorted(left):
        a, b, target = left[rel], right[rel], os.path.join(out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(a):
            if os.readlink(a) != os.readlink(b):
                raise BuildError("%s: symlinks differ" % rel)
            os.symlink(os.readlink(a), target)
        elif is_macho(a):
            runner.run([lipo, "-create", a, b, "-output", target])
            os.chmod(target, stat.S_IMODE(os.stat(a).st_mode))
        else:
            with open(a, "rb") as fa, open(b, "rb") as fb:
                same = fa.read() == fb.read()
            if not same and not any(marker in "/" + rel for marker in ARCH_SPECIFIC_TEXT):
                raise BuildError("%s differs between the arm64 and x86_64 trees" % rel)
            shutil.copy2(a, target)


# -- 5. the app bundle ----------------------------------------------------------------------

def build_bundle(payload, prefix, args, runner):
    """native/launcher/build.sh assembles and signs osq-esf.app (launcher, Info.plist, runtime, entitlement):
    ``--out DIR --python PREFIX [--sign ID --team TEAMID --profile FILE] [--bundle-id ID] [--version V]``.
    The bundle's version is the package's; its identifier is build.sh's default, com.osq-esf.agent, which
    the standalone Full Disk Access profile names."""
    argv = [os.path.join(REPO, "native", "launcher", "build.sh"), "--out", os.path.join(payload, INSTALL_ROOT),
            "--python", prefix, "--version", version()]
    if args.sign == "-":
        argv += ["--sign", "-"]  # ad hoc: no team, no profile (a test VM with SIP disabled)
    elif args.sign:
        argv += ["--sign", args.sign, "--team", args.team, "--profile", args.profile]
    runner.run(argv)


# -- 6-7. packages ------------------------------------------------------------------------

def fda_profile_for(team):
    """The standalone daemon's Full Disk Access profile, with the signing team's code requirement."""
    with open(os.path.join(PACKAGING, "mdm", "osq-esf-fda-standalone.mobileconfig")) as f:
        return f.read().replace("TEAMID", team)


def build_packages(out, payload, scripts, args, runner):
    v = version()
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    component = os.path.join(work, "osq-esf-component.pkg")
    runner.run(["pkgbuild", "--root", payload, "--identifier", IDENTIFIER, "--version", v,
                "--install-location", "/", "--scripts", scripts, "--ownership", "recommended",
                "--component-plist", os.path.join(HERE, "components.plist"), component])
    distribution = os.path.join(work, "Distribution.xml")
    with open(os.path.join(HERE, "Distribution.xml")) as f:
        text = f.read().replace("@VERSION@", v)
    with open(distribution, "w") as f:
        f.write(text)
    unsigned = os.path.join(work, "osq-esf-%s-unsigned.pkg" % v)
    runner.run(["productbuild", "--distribution", distribution, "--package-path", work, unsigned])
    final = os.path.join(out, "osq-esf-%s.pkg" % v)
    if args.installer_sign:
        runner.run(["productsign", "--sign", args.installer_sign, "--timestamp", unsigned, final])
    else:
        runner.run(["cp", unsigned, final])
    if args.notary_profile:
        runner.run(["xcrun", "notarytool", "submit", final, "--keychain-profile", args.notary_profile, "--wait"])
        runner.run(["xcrun", "stapler", "staple", final])
    shutil.copyfile(os.path.join(PACKAGING, "osq_esf.ext"), os.path.join(out, "osq_esf.ext"))
    os.chmod(os.path.join(out, "osq_esf.ext"), 0o755)
    if args.team:
        with open(os.path.join(out, "osq-esf-fda-standalone.mobileconfig"), "w") as f:
            f.write(fda_profile_for(args.team))
    return final


def full_build(args, runner):
    if sys.platform != "darwin" and not args.dry_run:
        raise BuildError("the package is built on a Mac (pkgbuild, lipo, codesign); use --payload-only or "
                         "--dry-run elsewhere")
    if args.sign and args.sign != "-" and not (args.team and args.profile):
        raise BuildError("--sign needs --team and --profile (the provisioning profile carrying the "
                         "Endpoint Security entitlement); --sign - signs ad hoc, for a test VM only")
    out = os.path.abspath(args.out)
    payload, scripts = assemble_payload(out)
    work = tempfile.mkdtemp(prefix="osq-esf-build-") if not args.dry_run else os.path.join(out, "work")
    prefixes = {}
    for arch in ("arm64", "x86_64"):
        prefixes[arch] = fetch_python(arch, work, runner)
        install_into(prefixes[arch], arch, runner)
    universal = os.path.join(work, "python-universal2")
    if not args.dry_run:
        merge_universal(prefixes["arm64"], prefixes["x86_64"], universal, runner)
    build_bundle(payload, universal, args, runner)
    for rel in MAC_BUILT:
        if not args.dry_run and not os.path.exists(os.path.join(payload, rel)):
            raise BuildError("the bundle build left no %s" % rel)
    return build_packages(out, payload, scripts, args, runner)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--payload-only", action="store_true",
                    help="only lay out the payload, scripts and manifest (any OS; no runtime, no bundle)")
    ap.add_argument("--dry-run", action="store_true", help="print the Mac build's commands without running them")
    ap.add_argument("--sign", metavar="IDENTITY",
                    help='"Developer ID Application: NAME (TEAMID)" for the bundle; "-" signs ad hoc (test VM only)')
    ap.add_argument("--team", metavar="TEAMID", help="the Apple team ID (also fills the standalone FDA profile)")
    ap.add_argument("--profile", metavar="PATH", help="provisioning profile with the Endpoint Security entitlement")
    ap.add_argument("--installer-sign", metavar="IDENTITY", help='"Developer ID Installer: NAME (TEAMID)"')
    ap.add_argument("--notary-profile", metavar="NAME", help="notarytool keychain profile (store-credentials)")
    args = ap.parse_args(argv)
    try:
        if args.payload_only:
            payload, _ = assemble_payload(os.path.abspath(args.out))
            print("payload: %s" % payload)
            return 0
        print("package: %s" % full_build(args, Runner(args.dry_run)))
        return 0
    except (BuildError, subprocess.CalledProcessError, OSError) as e:
        print("build.py: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
