"""Fixtures for the embedded host tests: a started Host and in-process raw extensions."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from osq_esf.host.manager import Host
from tests.host.raw_extension import RawExtension


@pytest.fixture
def socket_dir():
    # Short path: sun_path is 104 bytes on macOS, 108 on Linux.
    path = tempfile.mkdtemp(prefix="oh", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_host(socket_dir):
    hosts = []

    def make(**kwargs) -> Host:
        kwargs.setdefault("interval", 60)  # no watcher activity unless asked
        kwargs.setdefault("timeout", 1)
        kwargs.setdefault("thrift_timeout", 5)
        host = Host(os.path.join(socket_dir, "em%d" % len(hosts)), **kwargs).start()
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop()


@pytest.fixture
def host(make_host) -> Host:
    return make_host()


@pytest.fixture
def make_raw(host):
    exts = []

    def make(tables: dict, name: str | None = None, on: Host | None = None, **kwargs) -> RawExtension:
        target = on or host
        ext = RawExtension(target.socket_path, name or "raw%d" % len(exts), tables, **kwargs).start()
        exts.append(ext)
        return ext

    yield make
    for ext in exts:
        ext.stop()


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
