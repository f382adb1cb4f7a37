"""The one-way flow, checked on the import graph: the ingest core never imports the thrift layer,
platform sources never import each other, the rules never import the configuration, and the
embedded host stands apart from the product path."""

from __future__ import annotations

import subprocess
import sys

import pytest


def imported_by(module: str) -> set[str]:
    """The modules importing ``module`` loads, in a fresh interpreter."""
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("core", ["osq_esf.pipeline", "osq_esf.sources.replay", "osq_esf.sources.eslogger",
                                  "osq_esf.reload", "osq_esf.kinds"])
def test_the_ingest_core_never_imports_the_thrift_layer(core):
    loaded = imported_by(core)
    assert not {m for m in loaded if m.split(".")[0] in ("thrift", "osquery", "apsw")}
    assert not {m for m in loaded if m.startswith(("osq_esf.extension", "osq_esf.host"))}


def test_platform_sources_do_not_import_each_other():
    assert "osq_esf.sources.native" not in imported_by("osq_esf.sources.eslogger")
    assert "osq_esf.sources.eslogger" not in imported_by("osq_esf.sources.native")


def test_rules_never_import_the_configuration():
    assert "osq_esf.config" not in imported_by("osq_esf.rules")


def test_the_product_path_does_not_import_the_embedded_host():
    assert not {m for m in imported_by("osq_esf.app") if m.startswith("osq_esf.host")}
