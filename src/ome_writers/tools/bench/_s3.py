"""The loopback S3 server of ``--s3``, and the bucket and credentials the
workers write with."""

from __future__ import annotations

import subprocess
import sys
import time

S3_BUCKET = "bench"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_REGION": "us-east-1",
}


class LoopbackS3:
    """moto's S3 server in its own process on 127.0.0.1, with one bucket."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.close()
                    raise RuntimeError("the loopback S3 server did not start") from None
                time.sleep(0.1)
        import urllib.request

        # path-style CreateBucket; moto accepts any credentials
        request = urllib.request.Request(f"{self.endpoint}/{S3_BUCKET}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
