"""A loopback TCP proxy that tests can use to cut, freeze and restore a client's connection.

- `drop()` closes every proxied connection (the client sees a disconnect and reconnects at once);
- `freeze()` drops, then accepts new connections but closes them immediately (the server sees silence from
  the client, as in a partition, so its session can expire);
- `thaw()` forwards again.
"""

from __future__ import annotations

import selectors
import socket
import threading


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.hosts = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._frozen = False
        self._closed = False
        self.accepted = 0  # connections accepted and forwarded
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self.listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # control

    def drop(self) -> None:
        self._call(self._drop_all)

    def freeze(self) -> None:
        def action():
            self._frozen = True
            self._drop_all()
        self._call(action)

    def thaw(self) -> None:
        def action():
            self._frozen = False
        self._call(action)

    def close(self) -> None:
        def action():
            self._closed = True
            self._drop_all()
        self._call(action)
        self._thread.join(timeout=5)
        self.listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _call(self, action) -> None:
        done = threading.Event()
        with self._lock:
            self._pending = getattr(self, "_pending", [])
            self._pending.append((action, done))
        self._wake_w.send(b"x")
        if not done.wait(timeout=10):
            raise TimeoutError("proxy thread did not respond")

    # loop (runs on the proxy thread; owns all sockets)

    def _drop_all(self) -> None:
        for client, upstream in self._pairs:
            for sock in (client, upstream):
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        self._pairs.clear()

    def _close_pair_of(self, sock: socket.socket) -> None:
        for pair in list(self._pairs):
            if sock in pair:
                self._pairs.remove(pair)
                for member in pair:
                    try:
                        self._selector.unregister(member)
                    except (KeyError, ValueError):
                        pass
                    member.close()

    def _run(self) -> None:
        while not self._closed:
            for key, _ in self._selector.select(timeout=1.0):
                tag = key.data
                if tag == "wake":
                    self._wake_r.recv(4096)
                    with self._lock:
                        pending, self._pending = getattr(self, "_pending", []), []
                    for action, done in pending:
                        action()
                        done.set()
                elif tag == "accept":
                    client, _ = self.listener.accept()
                    if self._frozen:
                        client.close()
                        continue
                    try:
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        client.close()
                        continue
                    for sock in (client, upstream):
                        sock.setblocking(False)
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._pairs.append((client, upstream))
                    self._selector.register(client, selectors.EVENT_READ, ("data", upstream))
                    self._selector.register(upstream, selectors.EVENT_READ, ("data", client))
                    self.accepted += 1
                else:
                    _, peer = tag
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._close_pair_of(sock)
                        continue
                    try:
                        peer.setblocking(True)
                        peer.sendall(data)
                        peer.setblocking(False)
                    except OSError:
                        self._close_pair_of(sock)
        self._selector.close()
