"""Reading while the files change: no torn documents, no mixed versions."""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import TYPE_CHECKING

import numpy as np

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.serve import start
from tests.serve.conftest import raw_request

if TYPE_CHECKING:
    from pathlib import Path


def test_a_file_replaced_while_sent_arrives_as_it_was(tmp_path: Path) -> None:
    old = np.random.default_rng(1).bytes(16 << 20)
    (tmp_path / "big.bin").write_bytes(old)
    with start(tmp_path) as served:
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = sock.recv(1 << 12)  # the headers: the file is open by now
        new = tmp_path / "big.bin.tmp"
        new.write_bytes(b"N" * (1 << 20))
        os.replace(new, tmp_path / "big.bin")  # as the writer replaces documents
        while chunk := sock.recv(1 << 20):
            received += chunk
        sock.close()
    body = received.partition(b"\r\n\r\n")[2]
    assert len(body) == len(old)
    assert body == old


def test_documents_read_during_an_acquisition_are_whole(tmp_path: Path) -> None:
    root = tmp_path / "live.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="y", count=32, type="space"),
            Dimension(name="x", count=32, type="space"),
        ],
        dtype="uint16",
        loss_window=0.1,
    )
    replies: list[tuple[int, bytes]] = []
    with create_stream(settings) as stream:
        stream.append(np.zeros((32, 32), "uint16"))
        with start(root) as served:
            done = threading.Event()

            def poll() -> None:
                while not done.is_set():
                    reply = raw_request(served.port, "/0/zarr.json")
                    replies.append((reply.status, reply.body))

            reader = threading.Thread(target=poll)
            reader.start()
            try:
                for i in range(1, 200):
                    stream.append(np.full((32, 32), i, "uint16"))
            finally:
                done.set()
                reader.join()
    assert replies
    shapes = set()
    for status, body in replies:
        assert status == 200
        shapes.add(json.loads(body)["shape"][0])
    assert max(shapes) >= 1
