"""What a built wheel contains: every subpackage, the specs and the bundled data."""

from __future__ import annotations

import sys

from tests.conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "osq_esf").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"
    assert "osq_esf._specs" in listed  # tables/, installed under the package


def test_demo_recording_is_labelled_as_generated():
    readme = (REPO / "osq_esf" / "data" / "README.md").read_text().lower()
    assert "generated" in readme and "demo.jsonl.gz" in readme
