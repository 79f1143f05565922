"""The embedded Redis-compatible server of ``make run`` (fakeredis over TCP).

fakeredis' TCP handler closes the connection after any command error; a real Redis answers the
error and keeps the connection. RQ asks ``INFO server`` to learn the server version (fakeredis does
not implement INFO) and then reuses that connection for the enqueue transaction, which then fails
with "Connection closed by server". This server answers command errors and keeps serving.
"""

from __future__ import annotations

import select

from fakeredis import TcpFakeServer
from fakeredis._clients._tcp_server import _POLL_INTERVAL, TCPFakeRequestHandler


class _ErrorTolerantHandler(TCPFakeRequestHandler):
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
    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, server_type="redis")
        self.RequestHandlerClass = _ErrorTolerantHandler
