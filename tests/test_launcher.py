"""The app bundle's launcher and its plists, checked on Linux as far as Linux can.

The launcher's C builds on Linux too (/proc/self/exe, libpython3.X.so): here it is
compiled with the system compiler, put in a bundle that bundle.py assembles around a
prefix that borrows this interpreter's shared libpython and standard library, and run.
codesign and the entitlement itself need a Mac (native/README.md says what is unverified).
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from osq_esf import __version__
from tests.conftest import REPO

LAUNCHER = REPO / "native" / "launcher"
sys.path.insert(0, str(LAUNCHER))
try:
    import bundle
finally:
    sys.path.remove(str(LAUNCHER))


def test_the_plists_load_and_carry_the_entitlement():
    info = plistlib.loads((LAUNCHER / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == bundle.EXECUTABLE == "osq-esf"
    assert info["CFBundlePackageType"] == "APPL" and info["LSMinimumSystemVersion"] == "11.0"
    ent = plistlib.loads((LAUNCHER / "osq-esf.entitlements").read_bytes())
    assert ent == {"com.apple.developer.endpoint-security.client": True}
    signed = bundle.entitlements("com.example.esf", "ABCDE12345")
    assert signed["com.apple.application-identifier"] == "ABCDE12345.com.example.esf"
    assert signed["com.apple.developer.team-identifier"] == "ABCDE12345"
    assert signed["com.apple.developer.endpoint-security.client"] is True


def test_the_scripts_parse():
    for script in (LAUNCHER / "build.sh", REPO / "native" / "check-sdk.sh"):
        r = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_build_sh_documents_its_interface_and_refuses_an_identity_without_a_profile(tmp_path):
    r = subprocess.run(["sh", str(LAUNCHER / "build.sh"), "--help"], capture_output=True, text=True)
    assert r.returncode == 2
    for flag in ("--out DIR", "--python PREFIX", "--sign IDENTITY", "--team TEAMID", "--profile PROFILE"):
        assert flag in r.stderr
    r = subprocess.run(["sh", str(LAUNCHER / "build.sh"), "--out", str(tmp_path), "--python", str(tmp_path),
                        "--sign", "Developer ID Application: X (ABCDE12345)"], capture_output=True, text=True)
    assert r.returncode == 1 and "needs --team and --profile" in r.stderr


def fake_prefix(root: Path) -> Path:
    """A CPython prefix made of this interpreter's shared libpython and stdlib, plus osq_esf.

    osq_esf and its dependencies come in through a .pth file in site-packages, the way
    the bundled prefix would hold them installed.
    """
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        pytest.skip("this Python has no shared libpython")
    libdir = Path(sysconfig.get_config_var("LIBDIR"))
    soname = sysconfig.get_config_var("INSTSONAME")
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    prefix = root / "prefix"
    (prefix / "lib" / f"python{ver}" / "site-packages").mkdir(parents=True)
    os.symlink(libdir / soname, prefix / "lib" / soname)
    for entry in stdlib.iterdir():
        if entry.name != "site-packages":
            os.symlink(entry, prefix / "lib" / f"python{ver}" / entry.name)
    site = prefix / "lib" / f"python{ver}" / "site-packages"
    (site / "osq_esf").mkdir()
    (site / "osq_esf" / "__init__.py").write_text("")  # what bundle.py checks for; the .pth supplies the real one
    (site / "zz-osq-esf.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    return prefix


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None or sys.platform == "darwin":
        pytest.skip("needs a C compiler, and Linux (on a Mac build.sh makes the real one)")
    root = tmp_path_factory.mktemp("bundle")
    exe = root / "osq-esf"
    r = subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", str(LAUNCHER / "launcher.c"), "-o",
                        str(exe), "-ldl"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    prefix = fake_prefix(root)
    profile = root / "test.provisionprofile"
    profile.write_bytes(b"not a real profile")
    path, ent = bundle.assemble(root / "out", exe, prefix, "com.example.esf", "ABCDE12345", profile, __version__)
    site = path / "Contents/Resources/python/lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
        "site-packages"
    shutil.rmtree(site / "osq_esf")  # the placeholder must not shadow the real package the .pth adds
    # Reports what the interpreter was set up with, to the file $OSQ_ESF_TEST_REPORT names.
    (site / "sitecustomize.py").write_text(
        "import json, os, sys\n"
        "out = os.environ.get('OSQ_ESF_TEST_REPORT')\n"
        "if out:\n"
        "    json.dump({'executable': sys.executable, 'prefix': sys.prefix, 'path': sys.path,\n"
        "               'safe_path': sys.flags.safe_path, 'no_user_site': sys.flags.no_user_site,\n"
        "               'dont_write_bytecode': sys.dont_write_bytecode}, open(out, 'w'))\n")
    return path


def run(exe, *args, env=None, cwd=None):
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def test_bundle_layout(app):
    contents = app / "Contents"
    info = plistlib.loads((contents / "Info.plist").read_bytes())
    assert (info["CFBundleIdentifier"], info["CFBundleShortVersionString"]) == ("com.example.esf", __version__)
    assert (contents / "PkgInfo").read_text() == "APPL????"
    assert os.access(contents / "MacOS" / "osq-esf", os.X_OK)
    assert (contents / "embedded.provisionprofile").read_bytes() == b"not a real profile"
    assert (contents / "Resources" / "python" / "lib").is_dir()


def test_the_launcher_runs_osq_esf_in_the_bundled_python(app):
    r = run(app / "Contents/MacOS/osq-esf", "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"osq-esf {__version__}"


def test_sys_executable_is_the_launcher_so_osq_esf_can_rerun_itself(app, tmp_path):
    report = tmp_path / "report.json"
    exe = app / "Contents/MacOS/osq-esf"
    r = run(exe, "--version", env={**os.environ, "OSQ_ESF_TEST_REPORT": str(report)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    seen = json.loads(report.read_text())
    assert seen["executable"] == str(exe.resolve())
    assert seen["prefix"] == str((app / "Contents/Resources/python").resolve())
    assert str(tmp_path) not in seen["path"] and "" not in seen["path"]  # no working directory on sys.path
    assert seen["no_user_site"] and seen["dont_write_bytecode"]
    if sys.version_info >= (3, 11):
        assert seen["safe_path"]
    # A leading "-m osq_esf" (how commands.py re-runs osq-esf through sys.executable) is dropped, not doubled.
    r = run(exe, "-m", "osq_esf", "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"osq-esf {__version__}", r.stderr


def test_a_symlink_to_the_launcher_finds_the_bundle(app, tmp_path):
    link = tmp_path / "osq_esf.ext"  # how osquery's extensions.load may name it
    os.symlink(app / "Contents/MacOS/osq-esf", link)
    r = run(link, "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"osq-esf {__version__}", r.stderr


def test_the_callers_python_environment_and_directory_are_ignored(app, tmp_path):
    evil = tmp_path / "evil"
    (evil / "osq_esf").mkdir(parents=True)
    (evil / "osq_esf" / "__init__.py").write_text("raise SystemExit('hijacked')\n")
    (evil / "osq_esf" / "__main__.py").write_text("raise SystemExit('hijacked')\n")
    env = {**os.environ, "PYTHONPATH": str(evil), "PYTHONHOME": "/nonexistent", "PYTHONSTARTUP": str(evil),
           "PYTHONINSPECT": "1"}
    r = run(app / "Contents/MacOS/osq-esf", "--version", env=env, cwd=evil)  # cwd holds osq_esf/ too
    assert r.returncode == 0 and r.stdout.strip() == f"osq-esf {__version__}", r.stderr
    assert "hijacked" not in r.stdout + r.stderr


def test_a_bundle_without_its_python_says_so(app, tmp_path):
    lone = tmp_path / "lone.app" / "Contents" / "MacOS"
    lone.mkdir(parents=True)
    shutil.copy2(app / "Contents/MacOS/osq-esf", lone / "osq-esf")
    r = run(lone / "osq-esf", "--version")
    assert r.returncode == 78 and "no bundled Python at Contents/Resources/python" in r.stderr


def test_bundle_refuses_a_prefix_it_cannot_run(tmp_path):
    (tmp_path / "prefix" / "lib").mkdir(parents=True)
    exe = tmp_path / "launcher"
    exe.write_bytes(b"")
    with pytest.raises(ValueError, match="no libpython3.X.dylib"):
        bundle.assemble(tmp_path / "out", exe, tmp_path / "prefix")
    with pytest.raises(ValueError, match="Team ID"):
        bundle.assemble(tmp_path / "out", exe, tmp_path / "prefix", team="short")
