"""The macOS package, checked on Linux: payload layout, modes and owners, plists, scripts, mode switching.

The Mac-only steps (runtime, lipo, the app bundle, pkgbuild, signing, notarization) are read through
`build.py --dry-run`; what they do on a Mac is listed as unverified in docs/packaging.md.
"""

from __future__ import annotations

import importlib.util
import os
import plistlib
import re
import shlex
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PACKAGING = REPO / "packaging"
SCRIPTS = sorted([PACKAGING / "osq_esf.ext", *(PACKAGING / "macos" / "root").iterdir(),
                  *(PACKAGING / "macos" / "scripts").iterdir()])
PLISTS = sorted([*PACKAGING.rglob("*.plist"), *PACKAGING.rglob("*.mobileconfig")])
OSQ_ESF_PATH = re.compile(r"/opt/osq-esf(?:/[\w.+-]+)*")


def load_build():
    spec = importlib.util.spec_from_file_location("osq_esf_build", PACKAGING / "macos" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pkg")
    r = subprocess.run([sys.executable, str(PACKAGING / "macos" / "build.py"), "--payload-only", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


def installed(rel: str) -> str:
    return "/" + rel


# -- the payload -----------------------------------------------------------------------------

def test_payload_holds_exactly_the_declared_files_with_their_modes(payload):
    root = payload / "payload"
    expected = {e[0]: e[2] for e in build.payload_entries()}
    found = {}
    for p in root.rglob("*"):
        rel = str(p.relative_to(root))
        if p.is_file():
            found[rel] = stat.S_IMODE(p.stat().st_mode)
        else:
            assert stat.S_IMODE(p.stat().st_mode) == 0o755, rel
    assert found == {k: v for k, v in expected.items() if not k.endswith("/etc")}
    assert (root / "opt/osq-esf/etc").is_dir() and not any((root / "opt/osq-esf/etc").iterdir())
    for pack in (PACKAGING / "packs").glob("*.conf"):
        assert (root / "opt/osq-esf/share/packs" / pack.name).read_bytes() == pack.read_bytes()
    assert not list(root.rglob("*.toml")) or all(p.name.endswith(".example.toml") for p in root.rglob("*.toml"))


def test_manifest_states_owner_and_mode_as_the_package_installs_them(payload):
    lines = (payload / "payload-manifest.txt").read_text().splitlines()
    entries = {line.split(" ", 2)[2]: line.split(" ", 2)[:2] for line in lines}
    assert entries["/opt/osq-esf/bin/osq_esf.ext"] == ["0755", "root:wheel"]
    assert entries["/opt/osq-esf/share/launchd/com.osq-esf.standalone.plist"] == ["0644", "root:wheel"]
    for path, (mode, owner) in entries.items():
        assert owner == "root:wheel", path
        assert not int(mode, 8) & 0o022, path  # osquery's safePermissions: nothing group- or world-writable


def test_installer_scripts_are_executable_and_in_place(payload):
    for name in build.SCRIPTS:
        p = payload / "scripts" / name
        assert p.read_bytes() == (PACKAGING / "macos" / "scripts" / name).read_bytes()
        assert stat.S_IMODE(p.stat().st_mode) == 0o755


def test_every_path_a_plist_wrapper_or_script_names_exists_in_the_package(payload):
    root = payload / "payload"
    provided = {installed(e[0]) for e in build.payload_entries()} | {installed(p) for p in build.MAC_BUILT}
    provided |= {str(parent) for p in provided for parent in Path(p).parents}
    named = set()
    for source in [*SCRIPTS, *PLISTS, PACKAGING / "osquery" / "osquery.flags", PACKAGING / "osquery" / "osquery.conf",
                   *(PACKAGING / "fleet").rglob("*.yml")]:
        named |= {m.rstrip(".") for m in OSQ_ESF_PATH.findall(source.read_text())}
    missing = sorted(p for p in named if p not in provided and not (root / p.lstrip("/")).exists())
    # Paths the admin creates (the config) or the runtime writes (logs) are not part of the package.
    assert missing == ["/opt/osq-esf/etc/osq-esf.toml"], missing


# -- plists and XML ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", PLISTS, ids=lambda p: str(p.relative_to(PACKAGING)))
def test_every_plist_loads(path):
    with open(path, "rb") as f:
        plistlib.load(f)


def test_launch_daemon_runs_the_standalone_wrapper():
    with open(PACKAGING / "macos" / "com.osq-esf.standalone.plist", "rb") as f:
        daemon = plistlib.load(f)
    assert daemon["Label"] == "com.osq-esf.standalone"
    assert daemon["ProgramArguments"] == ["/opt/osq-esf/bin/osq-esf-standalone"]
    assert daemon["RunAtLoad"] is True and daemon["KeepAlive"] is True
    assert daemon["ExitTimeOut"] <= 10  # launchd SIGKILLs after it; the extension stops in less


def test_full_disk_access_profiles_grant_the_responsible_process():
    def grants(name):
        with open(PACKAGING / "mdm" / name, "rb") as f:
            profile = plistlib.load(f)
        assert profile["PayloadScope"] == "System" and profile["PayloadType"] == "Configuration"
        (payload,) = profile["PayloadContent"]
        assert payload["PayloadType"] == "com.apple.TCC.configuration-profile-policy"
        return payload["Services"]["SystemPolicyAllFiles"]

    (osqueryd,) = grants("osq-esf-fda-osqueryd.mobileconfig")
    assert osqueryd["Identifier"] == "io.osquery.agent" and osqueryd["IdentifierType"] == "bundleID"
    assert osqueryd["CodeRequirement"].startswith('identifier "io.osquery.agent" and anchor apple generic')
    assert osqueryd["CodeRequirement"].endswith('certificate leaf[subject.OU] = "3522FA9PXF"')
    orbit = grants("osq-esf-fda-orbit.mobileconfig")
    assert [g["Identifier"] for g in orbit] == ["/opt/orbit/bin/orbit/macos/stable/orbit",
                                                "/opt/orbit/bin/orbit/macos/edge/orbit"]
    assert all('identifier "com.fleetdm.orbit"' in g["CodeRequirement"] and '"8VBZ3948LU"' in g["CodeRequirement"]
               for g in orbit)
    assert all(g["Allowed"] is True for g in [osqueryd, *orbit])
    (standalone,) = grants("osq-esf-fda-standalone.mobileconfig")
    assert standalone["Identifier"] == "/" + build.LAUNCHER
    filled = plistlib.loads(build.fda_profile_for("ABCDE12345").encode())
    assert filled["PayloadContent"][0]["Services"]["SystemPolicyAllFiles"][0]["CodeRequirement"].endswith(
        'leaf[subject.OU] = "ABCDE12345"')


def test_component_plist_pins_the_bundle_and_distribution_targets_both_arches_and_macos_13():
    with open(PACKAGING / "macos" / "components.plist", "rb") as f:
        (component,) = plistlib.load(f)
    assert component["RootRelativeBundlePath"] == build.APP and component["BundleIsRelocatable"] is False
    dist = ET.parse(PACKAGING / "macos" / "Distribution.xml").getroot()
    assert dist.find("options").get("hostArchitectures") == "arm64,x86_64"
    assert dist.find("domains").get("enable_localSystem") == "true"
    assert dist.find("domains").get("enable_anywhere") == "false"
    assert dist.find("volume-check/allowed-os-versions/os-version").get("min") == "13.0"
    ref = dist.find("pkg-ref[@version]")
    assert ref.get("id") == build.IDENTIFIER and ref.text == "osq-esf-component.pkg"


def test_fleet_and_osquery_files_parse():
    for path in (PACKAGING / "fleet").rglob("*.yml"):
        assert yaml.safe_load(path.read_text()), path
    tuf = yaml.safe_load((PACKAGING / "fleet" / "agent-options-extensions.yml").read_text())["agent_options"]
    assert tuf["extensions"] == {"osq_esf": {"channel": "stable", "platform": "macos"}}
    for path in (PACKAGING / "fleet" / "agent-options.yml", PACKAGING / "fleet" / "agent-options-extensions.yml"):
        flags = yaml.safe_load(path.read_text())["agent_options"]["command_line_flags"]
        assert "extensions_autoload" not in flags  # Fleet refuses it
        assert flags["extensions_require"] == "osq_esf"
    import json

    conf = json.loads((PACKAGING / "osquery" / "osquery.conf").read_text())
    for name, path in conf["packs"].items():
        assert (PACKAGING / "packs" / (name + ".conf")).exists() and path == "/opt/osq-esf/share/packs/%s.conf" % name
    flags = [line for line in (PACKAGING / "osquery" / "osquery.flags").read_text().splitlines()
             if line.startswith("--")]
    assert "--extensions_require=osq_esf" in flags and "--extensions_autoload=/var/osquery/extensions.load" in flags


# -- shell scripts ----------------------------------------------------------------------------

SHELLS = [s for s in ("sh", "dash", "bash") if shutil.which(s)]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_in_every_posix_shell_here(script):
    assert script.read_text().startswith("#!/bin/sh\n")
    for shell in SHELLS:
        argv = [shell, "--posix", "-n", str(script)] if shell == "bash" else [shell, "-n", str(script)]
        r = subprocess.run(argv, capture_output=True, text=True)
        assert r.returncode == 0, (shell, r.stderr)
    assert os.access(script, os.X_OK)


def test_ext_answers_help_without_the_runtime_and_refuses_to_run_without_it():
    r = subprocess.run([str(PACKAGING / "osq_esf.ext"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "osq-esf" in r.stdout  # orbit's checkExec runs every target with --help
    if not Path("/" + build.LAUNCHER).exists():
        r = subprocess.run([str(PACKAGING / "osq_esf.ext"), "--socket", "/x", "--timeout", "3", "--interval", "3"],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "install the osq-esf package" in r.stderr


@pytest.fixture
def system(tmp_path, payload):
    """A fake target volume with the payload installed, and a launchctl/pkgutil that record their calls."""
    root = tmp_path / "vol"
    shutil.copytree(payload / "payload", root)
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    for tool in ("launchctl", "pkgutil"):
        fake = bindir / tool
        # `launchctl print system/LABEL` succeeds for the labels listed in $FAKE_LOADED.
        fake.write_text('#!/bin/sh\necho "%s $*" >> "%s"\n'
                        'if [ "$1" = print ]; then case " $FAKE_LOADED " in *" ${2#system/} "*) exit 0;; esac; exit 1; fi\n'
                        'exit 0\n' % (tool, calls))
        fake.chmod(0o755)
    env = dict(os.environ, PATH=str(bindir) + os.pathsep + os.environ["PATH"], OSQ_ESF_ROOT=str(root) + "/",
               FAKE_LOADED="")

    def run(script, *args, loaded=""):
        calls.write_text("")
        r = subprocess.run([str(script), *args], capture_output=True, text=True,
                           env=dict(env, FAKE_LOADED=loaded), timeout=60)
        return r, [c for c in calls.read_text().splitlines() if not c.startswith("launchctl print")]

    return root, run


def mode_script(root):
    return root / "opt/osq-esf/bin/osq-esf-mode"


def test_autoload_adds_the_extension_once_and_restarts_only_the_osquery_that_runs(system):
    root, run = system
    loadfile = root / "var/osquery/extensions.load"
    loadfile.parent.mkdir(parents=True)
    loadfile.write_text("/usr/local/other.ext")  # no trailing newline
    r, calls = run(mode_script(root), "autoload", loaded="io.osquery.agent")
    assert r.returncode == 0, r.stderr
    assert loadfile.read_text() == "/usr/local/other.ext\n/opt/osq-esf/bin/osq_esf.ext\n"
    assert calls == ["launchctl kickstart -k system/io.osquery.agent"]
    r, calls = run(mode_script(root), "autoload", loaded="io.osquery.agent")
    assert loadfile.read_text().count("osq_esf.ext") == 1 and calls == []  # nothing changed, nothing restarted
    r, _ = run(mode_script(root), "status")
    assert r.stdout == "autoload\n"


def test_standalone_moves_it_to_launchd_and_back(system):
    root, run = system
    r, calls = run(mode_script(root), "autoload")
    r, calls = run(mode_script(root), "standalone", loaded="com.fleetdm.orbit")
    assert r.returncode == 0, r.stderr
    assert "osq_esf.ext" not in (root / "var/osquery/extensions.load").read_text()
    daemon = root / "Library/LaunchDaemons/com.osq-esf.standalone.plist"
    assert daemon.read_bytes() == (PACKAGING / "macos" / "com.osq-esf.standalone.plist").read_bytes()
    assert stat.S_IMODE(daemon.stat().st_mode) == 0o644
    assert calls[-1] == "launchctl bootstrap system %s" % daemon
    assert "orbit (com.fleetdm.orbit) in 10 seconds" in r.stdout  # detached: orbit may be running the installer
    r, _ = run(mode_script(root), "status")
    assert r.stdout == "standalone\n"
    r, calls = run(mode_script(root), "refresh", loaded="com.osq-esf.standalone")
    assert "osq_esf.ext" not in (root / "var/osquery/extensions.load").read_text()  # an upgrade keeps the mode
    assert calls[-1].startswith("launchctl bootstrap system")
    r, calls = run(mode_script(root), "autoload", loaded="com.osq-esf.standalone")
    assert not daemon.exists() and calls[0] == "launchctl bootout system/com.osq-esf.standalone"
    assert (root / "var/osquery/extensions.load").read_text() == "/opt/osq-esf/bin/osq_esf.ext\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="the installer scripts run as root")
def test_postinstall_and_uninstall_on_a_fake_volume(system, payload):
    root, run = system
    (root / "opt/osq-esf/bin/osq_esf.ext").chmod(0o777)  # a bad copy: postinstall makes it safe again
    r, calls = run(payload / "scripts" / "postinstall", "pkg", "/", str(root), loaded="io.osquery.agent")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((root / "opt/osq-esf/bin/osq_esf.ext").stat().st_mode) == 0o755
    assert (root / "var/osquery/extensions.load").read_text() == "/opt/osq-esf/bin/osq_esf.ext\n"
    assert calls == ["launchctl kickstart -k system/io.osquery.agent"]
    r, calls = run(payload / "scripts" / "preinstall", "pkg", "/", str(root), loaded="com.osq-esf.standalone")
    assert r.returncode == 0 and calls == ["launchctl bootout system/com.osq-esf.standalone"]
    (root / "var/root").mkdir(parents=True)
    (root / "opt/osq-esf/etc/osq-esf.toml").write_text("[clients]\n")
    r, calls = run(root / "opt/osq-esf/bin/osq-esf-uninstall", "--keep-config", loaded="io.osquery.agent")
    assert r.returncode == 0, r.stderr
    assert not (root / "opt/osq-esf").exists()
    assert (root / "var/root/osq-esf.toml.saved").read_text() == "[clients]\n"
    assert (root / "var/osquery/extensions.load").read_text() == ""
    assert calls == ["launchctl kickstart -k system/io.osquery.agent",
                     "pkgutil --volume %s --forget com.osq-esf.pkg" % root]


# -- the Mac build, read through --dry-run ------------------------------------------------------

def test_dry_run_shows_the_mac_build(tmp_path):
    r = subprocess.run([sys.executable, str(PACKAGING / "macos" / "build.py"), "--dry-run", "--out", str(tmp_path),
                        "--sign", "Developer ID Application: X (ABCDE12345)", "--team", "ABCDE12345",
                        "--profile", "p.provisionprofile", "--installer-sign", "Developer ID Installer: X (ABCDE12345)",
                        "--notary-profile", "notary"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for arch, (triple, digest) in build.PYTHON_BUILDS.items():
        assert "cpython-%s%%2B%s-%s-install_only_stripped.tar.gz (sha256 %s)" % (
            build.PYTHON_VERSION, build.PYTHON_RELEASE, triple, digest) in out
    assert "arch -x86_64" in out or "ARCHFLAGS" not in out  # Rosetta only on an Apple silicon build Mac
    assert "pip install --no-compile --no-cache-dir --no-warn-script-location '%s[native]'" % REPO in out
    assert "native/build.py" not in out  # the wheel build compiles _esf_native (setup.py cffi_modules)
    assert "native/launcher/build.sh --out %s/payload/opt/osq-esf --python" % tmp_path in out
    assert "--version %s" % build.version() in out
    assert "--sign 'Developer ID Application: X (ABCDE12345)' --team ABCDE12345 --profile p.provisionprofile" in out
    pkgbuild = next(line for line in out.splitlines() if line.startswith("+ pkgbuild"))
    for flag in ("--identifier com.osq-esf.pkg", "--install-location /", "--ownership recommended",
                 "--component-plist", "--scripts"):
        assert flag in pkgbuild
    assert "+ productbuild --distribution" in out
    assert "+ productsign --sign 'Developer ID Installer: X (ABCDE12345)' --timestamp" in out
    assert "notarytool submit" in out and "--wait" in out and "stapler staple" in out
    assert (tmp_path / "osq_esf.ext").read_bytes() == (PACKAGING / "osq_esf.ext").read_bytes()
    assert '&quot;ABCDE12345&quot;' in (tmp_path / "osq-esf-fda-standalone.mobileconfig").read_text()


def test_a_real_build_needs_a_mac_and_signing_needs_team_and_profile(tmp_path):
    if sys.platform != "darwin":
        r = subprocess.run([sys.executable, str(PACKAGING / "macos" / "build.py"), "--out", str(tmp_path)],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "built on a Mac" in r.stderr
    r = subprocess.run([sys.executable, str(PACKAGING / "macos" / "build.py"), "--dry-run", "--out", str(tmp_path),
                        "--sign", "X"], capture_output=True, text=True)
    assert r.returncode == 1 and "--team and --profile" in r.stderr


def test_an_ad_hoc_build_passes_build_sh_its_own_interface(tmp_path):
    """build.sh's flags: --out DIR --python PREFIX [--sign ID --team TEAMID --profile FILE] [--bundle-id ID]
    [--version V]; `--sign -` (a test VM) takes no team or profile."""
    r = subprocess.run([sys.executable, str(PACKAGING / "macos" / "build.py"), "--dry-run", "--out", str(tmp_path),
                        "--sign", "-"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (line,) = [ln for ln in r.stdout.splitlines() if "native/launcher/build.sh" in ln]
    argv = shlex.split(line[2:])
    flags = {a for a in argv if a.startswith("--")}
    script = (REPO / "native" / "launcher" / "build.sh").read_text()
    assert flags == {"--out", "--python", "--version", "--sign"}
    assert all(re.search(r"^\s+%s\)" % re.escape(f), script, re.M) for f in flags)
    assert argv[argv.index("--sign") + 1] == "-" and "--team" not in argv


def test_build_script_runs_on_the_macs_own_python_39():
    import ast

    tree = ast.parse((PACKAGING / "macos" / "build.py").read_text(), feature_version=(3, 9))
    assert tree  # parses as 3.9: no match statements, no X | Y annotations evaluated at runtime


def macho(path: Path, arch: bytes):
    path.write_bytes(b"\xcf\xfa\xed\xfe" + arch)


def test_merge_universal_lipos_mach_o_and_refuses_drift(tmp_path):
    arm, x86, out = tmp_path / "arm", tmp_path / "x86", tmp_path / "out"
    for tree, arch in ((arm, b"arm64"), (x86, b"x86_64")):
        (tree / "bin").mkdir(parents=True)
        (tree / "lib/python3.12/site-packages/x-1.dist-info").mkdir(parents=True)
        macho(tree / "bin/python3.12", arch)
        (tree / "bin/python3").symlink_to("python3.12")
        (tree / "lib/python3.12/os.py").write_text("same")
        (tree / "lib/python3.12/site-packages/x-1.dist-info/RECORD").write_text("hash " + arch.decode())
    lipo = tmp_path / "lipo"
    lipo.write_text("#!/bin/sh\n# -create A B -output OUT\ncat \"$2\" \"$3\" > \"$5\"\n")
    lipo.chmod(0o755)
    runner = build.Runner(dry_run=False)
    build.merge_universal(str(arm), str(x86), str(out), runner, lipo=str(lipo))
    assert (out / "bin/python3.12").read_bytes() == b"\xcf\xfa\xed\xfearm64\xcf\xfa\xed\xfex86_64"
    assert os.readlink(out / "bin/python3") == "python3.12"
    assert (out / "lib/python3.12/os.py").read_text() == "same"
    assert (out / "lib/python3.12/site-packages/x-1.dist-info/RECORD").read_text() == "hash arm64"
    (x86 / "lib/python3.12/os.py").write_text("different")
    with pytest.raises(build.BuildError, match="os.py differs"):
        build.merge_universal(str(arm), str(x86), str(tmp_path / "out2"), runner, lipo=str(lipo))
    (x86 / "lib/python3.12/extra.py").write_text("")
    with pytest.raises(build.BuildError, match="differ in files"):
        build.merge_universal(str(arm), str(x86), str(tmp_path / "out3"), runner, lipo=str(lipo))


def test_the_readme_and_packaging_docs_name_only_files_that_exist(payload):
    """Every packaging/ or docs/ path, and every /opt/osq-esf path, named in the Mac and Fleet instructions."""
    root = payload / "payload"
    provided = {"/" + p for p in build.MAC_BUILT} | {"/opt/osq-esf/etc/osq-esf.toml"}  # the admin writes the config
    for doc in (REPO / "README.md", REPO / "docs" / "packaging.md", REPO / "docs" / "packs.md",
                PACKAGING / "README.md"):
        text = doc.read_text()
        for rel in re.findall(r"(?<![\w/.-])((?:packaging|tests|osq_esf|native)/[\w./-]*\w|docs/[\w-]+\.md)", text):
            if "<" in rel:
                continue  # a placeholder
            base = PACKAGING if doc.parent == PACKAGING and not rel.startswith(("packaging/", "docs/")) else REPO
            assert (base / rel.split("::")[0]).exists() or (REPO / rel).exists(), (doc.name, rel)
        for path in OSQ_ESF_PATH.findall(text):
            path = path.rstrip(".")
            if "{" in path or path.endswith("-") or "<" in path:
                continue
            ok = (root / path.lstrip("/")).exists() or path in provided or \
                any(p.startswith(path + "/") for p in provided)
            assert ok, (doc.name, path)
