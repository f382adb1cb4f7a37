"""The socket's own speed: a bare UNIX-socket server that answers every connection with
the same ready bytes (no thrift, no encoding), as the same-run baseline of P2 and P3.

It runs in its own process, like the extension, and behaves like it towards the client
of :func:`bench.common.raw_exchange`: read the request to EOF (the client half-closes),
send the reply with one ``sendall``, close.  ``python -m bench.bare SOCKET FILE...``
serves ``FILE``'s bytes on ``SOCKET``; several files are served on ``SOCKET.0``,
``SOCKET.1``...
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time


def serve(path: str, payload: bytes) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    while True:
        conn, _ = s.accept()
        try:
            while conn.recv(1 << 16):  # the request, to EOF
                pass
            conn.sendall(payload)
        except OSError:
            pass
        finally:
            conn.close()


class BareServer:
    """``with BareServer(dir, {name: payload}) as paths:`` one socket per payload, in a child process."""

    def __init__(self, directory: str, payloads: dict[str, bytes]):
        self.paths, files = {}, []
        for i, (name, data) in enumerate(payloads.items()):
            f = os.path.join(directory, f"bare-{i}.bin")
            with open(f, "wb") as out:
                out.write(data)
            files.append(f)
            self.paths[name] = os.path.join(directory, f"bare.{i}")
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.bare", os.path.join(directory, "bare"), *files])
        deadline = time.monotonic() + 30
        while not all(map(os.path.exists, self.paths.values())):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("the bare socket server did not start")
            time.sleep(0.02)

    def __enter__(self) -> dict[str, str]:
        return self.paths

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def main(argv) -> None:
    base, files = argv[0], argv[1:]
    threads = []
    for i, f in enumerate(files):
        with open(f, "rb") as fh:
            data = fh.read()
        t = threading.Thread(target=serve, args=(f"{base}.{i}", data), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1:])
