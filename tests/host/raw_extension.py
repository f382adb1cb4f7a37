"""A test double: an osquery extension written against the raw thrift IDL.

It records every request it receives, so tests can assert on the exact
context JSON the host sends. Use it in-process (`RawExtension`) or as a
child process (`python -m tests.host.raw_extension`, spec in $RAW_EXT_SPEC),
in which case it behaves like an autoloaded extension: it parses
`--socket --timeout --interval [--verbose]`, records its argv/env, registers,
serves `<socket>.<uuid>` and exits when a ping to the manager fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from typing import Callable

from osquery.extensions import Extension, ExtensionManager
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus, InternalExtensionInfo
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport import TSocket, TTransport

Reply = Callable[[dict], tuple[int, str, list]]


def column(name: str, ctype: str = "TEXT", op: int = 0) -> dict:
    return {"id": "column", "name": name, "type": ctype, "op": str(op)}


class _Handler(Extension.Iface):
    def __init__(self, ext: "RawExtension"):
        self.ext = ext

    def ping(self):
        return ExtensionStatus(code=0, message="OK", uuid=self.ext.uuid)

    def call(self, registry, item, request):
        self.ext.calls.append((registry, item, dict(request)))
        table = self.ext.tables.get(item)
        if registry != "table" or table is None:
            return ExtensionResponse(ExtensionStatus(1, "unknown item", self.ext.uuid), [])
        if request.get("action") == "columns":
            return ExtensionResponse(ExtensionStatus(0, "OK", self.ext.uuid), table["routes"])
        reply = table.get("reply")
        if callable(reply):
            answer = reply(dict(request))
            if isinstance(answer, ExtensionResponse):
                return answer  # verbatim, however malformed
            code, message, rows = answer
        else:
            code, message, rows = 0, "OK", table.get("rows", [])
        return ExtensionResponse(ExtensionStatus(code, message, self.ext.uuid), rows)

    def shutdown(self):
        self.ext.shutdown_requested.set()


def _client(path: str, cls, timeout: float = 5.0):
    sock = TSocket.TSocket(unix_socket=path)
    sock.setTimeout(int(timeout * 1000))
    transport = TTransport.TBufferedTransport(sock)
    transport.open()
    return cls(TBinaryProtocol(transport)), transport


class RawExtension:
    """Register `tables` with the manager at `manager_socket` and serve them.

    `tables` maps a table name to {"routes": [...], "rows": [...]} or
    {"routes": [...], "reply": fn(request) -> (code, message, rows) or an
    ExtensionResponse sent as is}.
    """

    def __init__(self, manager_socket: str, name: str = "raw", tables: dict | None = None,
                 sdk_version: str = "5.16.0", min_sdk_version: str = "0.0.0"):
        self.manager_socket = manager_socket
        self.name = name
        self.tables = tables or {}
        self.info = InternalExtensionInfo(name, "1.0", sdk_version, min_sdk_version)
        self.uuid = 0
        self.calls: list[tuple[str, str, dict]] = []
        self.shutdown_requested = threading.Event()
        self._listener: socket.socket | None = None

    @property
    def path(self) -> str:
        return "%s.%d" % (self.manager_socket, self.uuid)

    def register(self) -> ExtensionStatus:
        client, transport = _client(self.manager_socket, ExtensionManager.Client)
        try:
            status = client.registerExtension(
                self.info, {"table": {n: t["routes"] for n, t in self.tables.items()}})
        finally:
            transport.close()
        if status.code == 0:
            self.uuid = status.uuid
        return status

    def start(self) -> "RawExtension":
        status = self.register()
        if status.code != 0:
            raise RuntimeError("registration refused: " + status.message)
        self.serve_in_background()
        return self

    def serve_in_background(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener.bind(self.path)
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        processor = Extension.Processor(_Handler(self))
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(processor, conn), daemon=True).start()

    @staticmethod
    def _serve(processor, conn) -> None:
        sock = TSocket.TSocket()
        sock.setHandle(conn)
        trans = TTransport.TBufferedTransport(sock)
        prot = TBinaryProtocol(trans)
        try:
            while True:
                processor.process(prot, prot)
        except Exception:
            pass
        finally:
            conn.close()

    def generate_contexts(self, table: str) -> list[str]:
        """Context JSON strings of every `generate` received for `table`."""
        return [req["context"] for _, item, req in self.calls
                if item == table and req.get("action") == "generate"]

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def main() -> int:
    """Child-process mode: spec from $RAW_EXT_SPEC (JSON file)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--timeout", type=int, required=True)
    parser.add_argument("--interval", type=int, required=True)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    with open(os.environ["RAW_EXT_SPEC"]) as f:
        spec = json.load(f)
    if spec.get("record"):
        with open(spec["record"], "w") as f:
            json.dump({"argv": sys.argv[1:], "env": os.environ.get("OSQUERY_EXTENSION")}, f)
    if spec.get("fail"):
        print(spec["fail"], file=sys.stderr, flush=True)
        return 3
    if spec.get("delay"):
        time.sleep(spec["delay"])
    ext = RawExtension(args.socket, spec.get("name", "raw"), spec.get("tables", {}))
    status = ext.register()
    if status.code != 0:
        print("registration failed: " + status.message, file=sys.stderr, flush=True)
        return 1
    ext.serve_in_background()
    # Like the SDKs: ping the manager each interval, leave when it is gone.
    while not ext.shutdown_requested.wait(args.interval):
        try:
            client, transport = _client(args.socket, ExtensionManager.Client, 2.0)
            client.ping()
            transport.close()
        except Exception:
            break
    ext.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
