"""The embedded Redis-compatible server of ``make run`` (fakeredis over TCP).

fakeredis' TCP handler closes the connection after any command error; a real Redis answers the
error and keeps the connection. RQ asks ``INFO server`` to learn the server version (fakeredis does
not implement INFO) and then reuses that connection for the enqueue transaction, which then fails
with "Connection closed by server". This server answers command errors and keeps serving.

A blocking command (RQ workers wait in ``BLPOP``) blocks its connection's handler thread inside fakeredis,
which does not notice when the client goes away: a killed worker's ``BLPOP`` would go on waiting and then
pop, and lose, the next job pushed. Here a blocked connection whose peer has hung up never takes a value, a
watchdog unblocks it within a second, and shutting the server down unblocks everyone.
"""

from __future__ import annotations

import select
import socket
import threading

from fakeredis import TcpFakeServer
from fakeredis._clients._tcp_server import _POLL_INTERVAL, TCPFakeRequestHandler


class _ErrorTolerantHandler(TCPFakeRequestHandler):
    server: EmbeddedRedisServer

    def setup(self) -> None:
        super().setup()
        fake_socket = self.current_client.get_socket()
        blocking = fake_socket._blocking

        def blocking_while_connected(timeout, func, shape=None):
            def unless_gone(first_pass: bool):
                return None if not first_pass and self.peer_gone() else func(first_pass)

            return blocking(timeout, unless_gone, shape)

        fake_socket._blocking = blocking_while_connected
        with self.server.handlers_lock:
            self.server.handlers.add(self)

    def finish(self) -> None:
        with self.server.handlers_lock:
            self.server.handlers.discard(self)
        super().finish()

    def peer_gone(self) -> bool:
        """The client hung up (EOF or reset); pending bytes of a live client are left for the handler."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def unblock(self) -> None:
        fake_socket = self.current_client.get_socket()
        condition = fake_socket._db.condition
        with condition:
            if fake_socket._blocked:
                fake_socket._unblock_reason = b"timeout"  # answered as a timeout, as CLIENT UNBLOCK does
                fake_socket._db.wake_all()

    def handle(self) -> None:
        while not self.server._shutdown_event.is_set():
            try:
                if self.current_client.can_read():
                    self.writer.dump(self.current_client.read_response())
                    continue
                data = self.rfile.readline()
                if data == b"":
                    readable, _, _ = select.select([self.connection], [], [], _POLL_INTERVAL)
                    if not readable:
                        continue
                    data = self.rfile.readline()
                    if data == b"":
                        break  # the client hung up
                self.current_client.get_socket().sendall(data)
            except ConnectionError:
                break
            except Exception as exc:  # a command error: answer it, as Redis does, and go on
                self.writer.dump(exc)


class EmbeddedRedisServer(TcpFakeServer):
    WATCH_INTERVAL_S = 1.0

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, server_type="redis")
        self.RequestHandlerClass = _ErrorTolerantHandler
        self.daemon_threads = True  # a handler never holds the process up at exit
        self.handlers: set[_ErrorTolerantHandler] = set()
        self.handlers_lock = threading.Lock()
        self._watchdog = threading.Thread(target=self._unblock_hung_up_clients, name="embedded-redis-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def _unblock_hung_up_clients(self) -> None:
        while not self._shutdown_event.wait(self.WATCH_INTERVAL_S):
            for handler in self.current_handlers():
                if handler.peer_gone():
                    handler.unblock()

    def shutdown(self) -> None:
        self._shutdown_event.set()
        for handler in self.current_handlers():
            handler.unblock()
        super().shutdown()

    def current_handlers(self) -> list[_ErrorTolerantHandler]:
        with self.handlers_lock:
            return list(self.handlers)
