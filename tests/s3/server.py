"""A local S3-compatible server for the object-storage tests.

`LocalS3` runs moto's server mode on 127.0.0.1 on a free port: in a process
of its own (like any real server), or, to be restarted with its buckets kept,
in this process. `FaultProxy` stands between a
client and it on another loopback port and injects what object stores do to
long acquisitions: 503 replies, connections reset mid-request, refused
credentials, and a server that is gone.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalS3:
    """moto's S3 server on 127.0.0.1, stoppable and restartable on its port.

    `in_process`: run it on threads of this process, where its state outlives
    a restart (a separate process starts empty again).
    """

    def __init__(self, *, in_process: bool = False) -> None:
        self.port = free_port()
        self.in_process = in_process
        self._server: ThreadedMotoServer | subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # the server binds on its own thread: wait until the port is free
        # (a stopped server may hold it a moment), then until it answers
        deadline = time.monotonic() + 10
        while not _bindable(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {self.port} stays in use")
            time.sleep(0.05)
        server: ThreadedMotoServer | subprocess.Popen[bytes]
        if self.in_process:
            server = ThreadedMotoServer(
                ip_address="127.0.0.1", port=self.port, verbose=False
            )
            server.start()
        else:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1"]
            server = subprocess.Popen(
                [*command, "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._server = server

    def stop(self) -> None:
        server, self._server = self._server, None
        if isinstance(server, ThreadedMotoServer):
            server.stop()
        elif server is not None:
            server.terminate()
            server.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self._server is not None


_HOP_HEADERS = ("transfer-encoding", "connection", "content-length")


class FaultProxy:
    """An HTTP proxy to a `LocalS3` that fails requests on demand.

    Attributes (set them from the test):
    - ``fail_next``: reply 503 SlowDown to the next N requests;
    - ``reset_next``: close the connection of the next N requests unanswered;
    - ``down``: refuse every request (connection closed), like a gone server;
    - ``required_key``: reply 403 InvalidAccessKeyId unless the request is
      signed with this access key id.
    """

    def __init__(self, upstream: LocalS3) -> None:
        self.upstream = upstream
        self.fail_next = 0
        self.reset_next = 0
        self.down = False
        self.required_key: str | None = None
        self.requests = 0
        self.injected = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy._forward(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _take(self, name: str) -> bool:
        with self._lock:
            if getattr(self, name) > 0:
                setattr(self, name, getattr(self, name) - 1)
                self.injected += 1
                return True
        return False

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests += 1
        if self.down or self._take("reset_next"):
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if self._take("fail_next"):
            self._reply(handler, 503, "SlowDown", "Please reduce your request rate.")
            return
        auth = handler.headers.get("Authorization", "")
        if self.required_key and f"Credential={self.required_key}/" not in auth:
            self._reply(handler, 403, "InvalidAccessKeyId", "Unknown access key.")
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream.port, timeout=30)
        try:
            headers = dict(handler.headers.items())
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except OSError:  # the server itself is stopped: a reset connection
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        finally:
            conn.close()
        handler.send_response(response.status, response.reason)
        length = str(len(data))
        for key, value in response.getheaders():
            if key.lower() == "content-length" and handler.command == "HEAD":
                length = value  # the object's size; a HEAD reply has no body
            elif key.lower() not in (
                "transfer-encoding",
                "connection",
                "content-length",
            ):
                handler.send_header(key, value)
        handler.send_header("Content-Length", length)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler, status: int, code: str, text: str
    ) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{text}</Message></Error>"
        ).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
