"""Take a database away and give it back, for outage tests.

`TcpProxy` stands between the app and PostgreSQL on 127.0.0.1: `cut()` closes every
connection through it and closes each new one as soon as it arrives (the client sees the
server hang up, as when PostgreSQL is down or restarting) until `restore()`; `drop()` closes
the open connections only (an idle timeout, a failover). `accepted` counts the connections
the app opened, so a test can see how often it knocked.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forward 127.0.0.1:`port` to `target`, until the test cuts it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self.cut_off = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self.listener.close()
        self._close_open()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cut(self) -> None:
        """The database goes away: open connections close, new ones are closed on arrival."""
        with self._lock:
            self.cut_off = True
        self._close_open()

    def restore(self) -> None:
        """The database is back."""
        with self._lock:
            self.cut_off = False

    def drop(self) -> None:
        """Close the open connections and keep forwarding new ones."""
        self._close_open()

    def _close_open(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                cut_off = self.cut_off
            if cut_off:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        # Either side hanging up ends the pair, as a real connection would.
        with self._lock:
            self._open.discard(source)
            self._open.discard(sink)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
