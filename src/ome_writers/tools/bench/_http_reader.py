"""One HTTP reader of ``--readers``: polls a served dataset the way a viewer does.

Run by path in a process of its own (``python _http_reader.py``), so that it
takes CPU and disk from the writer as an outside viewer would. It imports the
standard library only. The protocol, on its stdin and stdout:

1. it reads its settings as one JSON line (`Settings`), makes one request
   that reads nothing (`warm_up`) and answers ``ready``;
2. it waits for a ``go`` line (sent once ``create_stream`` returned);
3. it polls (first after a random part of the interval, as independent
   viewers are out of step) until its stdin closes, at least once, then
   prints its counts as one JSON line.

Each poll reads what a viewer following the acquisition reads (as the
served viewer page does): the documents that say how far the data reaches,
and, when the writer's progress record there has changed since the last
poll, the newest frame it counts. OME-Zarr: the root ``zarr.json`` (with the
record), the first image's level-0 ``zarr.json`` and then the chunk of the
newest frame counted (whole; in a sharded array, its shard's index, then the
chunk by range). OME-TIFF: a HEAD of the file, by range its header, first
IFD and ImageDescription (the provisional OME-XML, with the record) and then
the strip of the newest page the record points at (nothing while it points
at none; without a record, the file's last frame's worth of bytes). A Zarr
dataset without a record (another writer's) is read at its newest readable
frame at every poll, before any is, its newest appended.

A frame is readable once its ``append`` returned a loss window ago (the
writer publishes how many appends returned, in a shared 8-byte counter) and,
for OME-Zarr, lies inside the shape the array's ``zarr.json`` declares. The
record must count every frame appended two loss windows ago, and every frame
it counts must read whole.
Every request must then succeed, but for what the writer need not have made
readable yet, counted apart ("not yet"): before the first frame is readable,
the newest frame's chunk (a 404, which a Zarr reader shows as the fill value),
the Zarr documents (missing, or a root group that does not describe the
image yet: they are written in the background and complete at the first
loss-window visit) and an OME-TIFF's first IFD and description. Each of
these is an error once its frame is readable. Any other status than 200 (206
for a range), a body shorter or longer than announced, a JSON or OME-XML
document that does not parse whole, and a failed connection are errors.
"""

from __future__ import annotations

import collections
import html
import http.client
import json
import math
import mmap
import os
import random
import struct
import sys
import threading
import time
from typing import Any, TypedDict

#: error messages kept per reader (the count has them all)
ERROR_SAMPLE = 5
_ITEMSIZE = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
}
_IMAGE_DESCRIPTION = 270
#: a shard index's offset and size of an inner chunk not stored
_ABSENT = 2**64 - 1


class Settings(TypedDict):
    """What one reader reads, and how often."""

    host: str
    port: int
    #: the dataset's path under the server's root, e.g. ``bench.ome.zarr``
    dataset: str
    kind: str  # "zarr" or "tiff"
    #: the 8-byte counter of appends returned, published by the writer
    counter: str
    #: seconds after which an appended frame is readable (None: only at close)
    window: float | None
    #: seconds between polls
    interval: float
    #: bytes of one frame (the tail read of an OME-TIFF)
    frame_bytes: int
    #: niceness of the reader process (0: the writer's priority)
    nice: int


class ReadError(Exception):
    """A reply a viewer could not use."""


class NotYet(Exception):
    """What the writer has not made readable yet, and need not have."""


class Counts:
    """What one reader did: requests, errors, bytes received."""

    def __init__(self) -> None:
        self.requests = 0
        self.data_requests = 0  # chunks and pixel bytes, not documents
        self.not_yet = 0  # what is not there yet, and need not be (`NotYet`)
        self.errors = 0
        self.bytes = 0
        self.error_sample: list[str] = []

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_sample) < ERROR_SAMPLE:
            self.error_sample.append(message[:200])

    def as_dict(self, seconds: float, cpu_seconds: float) -> dict[str, Any]:
        return {
            "cpu_seconds": cpu_seconds,
            "requests": self.requests,
            "data_requests": self.data_requests,
            "not_yet": self.not_yet,
            "errors": self.errors,
            "bytes": self.bytes,
            "seconds": seconds,
            "error_sample": self.error_sample,
        }


class Frames:
    """Frames appended by now (the writer's counter), those readable (the
    count seen a loss window ago) and those overdue in the progress record
    (seen two loss windows ago)."""

    def __init__(self, counter: str, window: float | None) -> None:
        with open(counter, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ)
        self._window = window
        self._seen: collections.deque[tuple[float, int]] = collections.deque()

    def __call__(self) -> tuple[int, int, int]:
        """(appended, readable, overdue)."""
        now = time.monotonic()
        appended = struct.unpack_from("=q", self._map)[0]
        if self._window is None:
            return appended, 0, 0
        self._seen.append((now, appended))
        oldest = now - 2 * self._window
        while len(self._seen) > 1 and self._seen[1][0] <= oldest:
            self._seen.popleft()  # the newest count seen two windows ago stays first
        return appended, self._count_at(now - self._window), self._count_at(oldest)

    def _count_at(self, when: float) -> int:
        """The newest count seen at or before `when` (0: none seen that early)."""
        count = 0
        for seen_at, seen in self._seen:
            if seen_at > when:
                break
            count = seen
        return count

    def close(self) -> None:
        self._map.close()


class Client:
    """One keep-alive connection; each request counted, each failure raised."""

    def __init__(self, host: str, port: int, counts: Counts) -> None:
        self._host, self._port = host, port
        self._counts = counts
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        byte_range: str | None = None,
        missing: bool = False,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """The reply and its body; with `missing`, a 404 is a reply too."""
        headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
        self._counts.requests += 1
        try:
            self._conn.request(method, path, headers=headers)
            reply = self._conn.getresponse()
            body = reply.read()  # raises IncompleteRead on a short body
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise ReadError(f"{method} {path}: {type(e).__name__}: {e}") from e
        self._counts.bytes += len(body)
        expected = 206 if byte_range else 200
        if reply.status != expected and not (missing and reply.status == 404):
            raise ReadError(
                f"{method} {path} ({byte_range or 'whole'}): {reply.status}"
            )
        return reply, body

    def json(self, path: str, missing: bool = False) -> dict[str, Any]:
        """The JSON object at `path`; with `missing`, a 404 raises `NotYet`."""
        reply, body = self.request("GET", path, missing=missing)
        if reply.status == 404:
            raise NotYet(path)
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise ReadError(f"GET {path}: torn JSON ({len(body)} bytes): {e}") from e
        if not isinstance(doc, dict):
            raise ReadError(f"GET {path}: not a JSON object")
        return doc

    def range(self, path: str, start: int, stop: int) -> tuple[int, bytes]:
        """Bytes `start` to `stop` (exclusive, clipped to the file); the file size."""
        reply, body = self.request("GET", path, f"{start}-{stop - 1}")
        return _check_range(path, reply.getheader("Content-Range", ""), start, body)

    def suffix(self, path: str, count: int) -> tuple[int, bytes]:
        """The last `count` bytes (fewer in a shorter file); the file size."""
        reply, body = self.request("GET", path, f"-{count}")
        size = _content_range(path, reply.getheader("Content-Range", ""))[2]
        return _check_range(
            path, reply.getheader("Content-Range", ""), max(size - count, 0), body
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _content_range(path: str, header: str) -> tuple[int, int, int]:
    """(first, last, size) of a ``Content-Range: bytes A-B/SIZE`` header."""
    try:
        unit, _, spec = header.partition(" ")
        span, _, size = spec.partition("/")
        first, _, last = span.partition("-")
        if unit != "bytes":
            raise ValueError(unit)
        return int(first), int(last), int(size)
    except ValueError as e:
        raise ReadError(f"GET {path}: bad Content-Range {header!r}") from e


def _check_range(path: str, header: str, start: int, body: bytes) -> tuple[int, bytes]:
    first, last, size = _content_range(path, header)
    if first != start or len(body) != last - first + 1:
        raise ReadError(
            f"GET {path}: asked from {start}, got {header!r} and {len(body)} bytes"
        )
    return size, body


class Shown:
    """What a viewer shows: the progress record it last fetched a frame for."""

    def __init__(self) -> None:
        self.record: Any = None

    def changed(self, record: Any) -> bool:
        """Whether `record` differs from the one shown; it is shown from now."""
        if record == self.record:
            return False
        self.record = record
        return True


def _counted(record: Any, where: str, overdue: int) -> int:
    """Frames the progress `record` counts; ReadError when it is malformed or
    still writing and behind the frames appended two loss windows ago."""
    try:
        frames = int(record["frames"])
        status = str(record["status"])
    except (KeyError, TypeError, ValueError) as e:
        raise ReadError(f"{where}: a malformed progress record ({e!r})") from e
    if status == "writing" and frames < overdue:
        raise ReadError(
            f"{where}: the progress record counts {frames} frames; "
            f"{overdue} were appended two loss windows before"
        )
    return frames


def _tiff_record(xml: bytes) -> Any:
    """The progress record of a provisional OME-XML (None: the final one)."""
    start = xml.find(b'K="progress">')
    if start < 0:
        return None
    start += len(b'K="progress">')
    end = xml.find(b"</M>", start)
    try:
        return json.loads(html.unescape(xml[start:end].decode("ascii")))
    except ValueError as e:
        raise ReadError(f"a progress record that does not parse: {e}") from e


def poll_zarr(
    client: Client,
    settings: Settings,
    frames: tuple[int, int, int],
    counts: Counts,
    shown: Shown,
) -> None:
    """One viewer's poll of an OME-Zarr: the documents, then, when the
    progress record changed, the chunk of the newest frame it counts."""
    appended, readable, overdue = frames
    # until a loss-window visit, the documents may not be there or complete yet
    early = not readable
    base = f"/{settings['dataset']}"
    root = client.json(f"{base}/zarr.json", missing=early)
    try:
        path = root["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"]
    except (KeyError, IndexError, TypeError) as e:
        if early:
            raise NotYet(f"{base}/zarr.json") from e
        raise ReadError(f"GET {base}/zarr.json: no multiscales ({e!r})") from e
    array = client.json(f"{base}/{path}/zarr.json", missing=early)
    try:
        shape = [int(n) for n in array["shape"]]
        chunks = [int(n) for n in array["chunk_grid"]["configuration"]["chunk_shape"]]
        encoding = array.get("chunk_key_encoding", {"name": "default"})
        codecs = [c["name"] for c in array["codecs"]]
        itemsize = _ITEMSIZE.get(str(array["data_type"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ReadError(f"GET {base}/{path}/zarr.json: not an array ({e!r})") from e
    name = encoding.get("name", "default")
    separator = encoding.get("configuration", {}).get(
        "separator", "." if name == "v2" else "/"
    )

    def chunk_path(index: int) -> str:
        indices = separator.join(str(i) for i in [index, *[0] * (len(shape) - 1)])
        return f"{base}/{path}/{indices if name == 'v2' else f'c{separator}{indices}'}"

    # a viewer reads inside the declared shape only
    record = root["attributes"].get("ome_writers", {}).get("progress")
    if record is not None:  # the newest frame counted, once per update
        counted = _counted(record, f"{base}/zarr.json", overdue)
        if not shown.changed(record):
            return
        newest, must = min(counted, shape[0]) - 1, True
    else:  # another writer's dataset: the newest readable (or appended) frame
        newest = min(readable if readable else appended, shape[0]) - 1
        must = newest < readable
    if newest < 0:
        return
    counts.data_requests += 1
    sharding = _sharding(array)
    chunk = chunk_path(newest // chunks[0])
    if sharding is not None:  # the frame, through its shard's index
        if not _read_inner_chunk(client, chunk, sharding, newest, must):
            counts.not_yet += 1
        return
    reply, body = client.request("GET", chunk, missing=True)
    if reply.status == 404 and must:
        raise ReadError(f"GET {chunk}: 404 for frame {newest}, which must read")
    if reply.status == 404:
        counts.not_yet += 1
    elif codecs == ["bytes"] and itemsize and len(body) != math.prod(chunks) * itemsize:
        raise ReadError(f"GET {chunk}: torn ({len(body)} bytes)")  # raw: size known


class Sharding(TypedDict):
    """What a reader needs of an array's ``sharding_indexed`` codec."""

    #: frames (along the first axis) per shard, and per inner chunk
    shard_frames: int
    chunk_frames: int
    #: inner chunks per shard, and bytes of the index at the shard's end
    chunks: int
    index_bytes: int


def _sharding(array: dict[str, Any]) -> Sharding | None:
    """The sharding of an array whose inner chunks hold whole frames and whose
    index is at the end of each shard (None: not sharded, or read otherwise)."""
    codecs = array.get("codecs") or [{}]
    if codecs[0].get("name") != "sharding_indexed":
        return None
    config = codecs[0].get("configuration", {})
    if config.get("index_location", "end") != "end":
        return None
    shard = array["chunk_grid"]["configuration"]["chunk_shape"]
    inner = config["chunk_shape"]
    if list(shard[1:-2]) != [1] * (len(shard) - 3) or shard[-2:] != inner[-2:]:
        return None
    checksum = any(c.get("name") == "crc32c" for c in config.get("index_codecs", []))
    chunks = math.prod(s // i for s, i in zip(shard, inner, strict=True))
    return {
        "shard_frames": int(shard[0]),
        "chunk_frames": int(inner[0]),
        "chunks": chunks,
        "index_bytes": 16 * chunks + (4 if checksum else 0),
    }


def _read_inner_chunk(
    client: Client, path: str, sharding: Sharding, frame: int, must: bool
) -> bool:
    """Read `frame` as a Zarr reader does from a shard: the index at the
    shard's end, then the frame's inner chunk by range. False when the shard
    or the chunk is not there yet, which is an error if it `must` be."""
    reply, index = client.request(
        "GET", path, f"-{sharding['index_bytes']}", missing=True
    )
    if reply.status == 404:
        if must:
            raise ReadError(f"GET {path}: 404 for frame {frame}, which must read")
        return False
    if len(index) != sharding["index_bytes"]:
        raise ReadError(f"GET {path}: an index of {len(index)} bytes")
    k = (frame % sharding["shard_frames"]) // sharding["chunk_frames"]
    offset, nbytes = struct.unpack_from("<QQ", index, 16 * k)
    if offset == _ABSENT:
        if must:
            raise ReadError(f"GET {path}: no chunk for frame {frame}, which must read")
        return False
    client.range(path, offset, offset + nbytes)
    return True


def poll_tiff(
    client: Client,
    settings: Settings,
    frames: tuple[int, int, int],
    counts: Counts,
    shown: Shown,
) -> None:
    """One viewer's poll of an OME-TIFF: its size, by range its header, first
    IFD and OME-XML, then, when the progress record changed, the newest page
    it points at (nothing while it counts none)."""
    _, readable, overdue = frames
    path = f"/{settings['dataset']}"
    client.request("HEAD", path)
    try:
        xml = _ome_xml(client, path)
    except ReadError as e:
        if readable:
            raise
        # the first page and its description need not be there yet
        raise NotYet(str(e)) from e
    record = _tiff_record(xml)
    if record is not None:
        _counted(record, f"{path} OME-XML", overdue)
    if not shown.changed(record if record is not None else "complete"):
        return
    if record is None:  # complete (or another writer's): the last bytes
        counts.data_requests += 1
        client.suffix(path, settings["frame_bytes"])
        return
    pages = record.get("newest")
    page = pages[0] if pages else None  # the first image's
    if page is None:  # no page counted yet: nothing to show
        return
    counts.data_requests += 1
    try:
        _, offset, nbytes = (int(n) for n in page)
    except (TypeError, ValueError) as e:
        raise ReadError(f"{path} OME-XML: a malformed newest page {page!r}") from e
    client.range(path, offset, offset + nbytes)  # short: an error


def _ome_xml(client: Client, path: str) -> bytes:
    """The OME-XML of the first IFD's ImageDescription, whole."""
    size, header = client.range(path, 0, 16)
    if header[:4] == b"II+\x00":  # BigTIFF
        offset_size, count_size, entry_size = 8, 8, 20
        first_ifd = struct.unpack_from("<Q", header, 8)[0]
    elif header[:4] == b"II*\x00":
        offset_size, count_size, entry_size = 4, 2, 12
        first_ifd = struct.unpack_from("<I", header, 4)[0]
    else:
        raise ReadError(f"GET {path}: not a little-endian TIFF header: {header[:4]!r}")
    _, ifd = client.range(path, first_ifd, min(first_ifd + 4096, size))
    entries = int.from_bytes(ifd[:count_size], "little")
    if not 0 < entries <= (len(ifd) - count_size) // entry_size:
        raise ReadError(f"GET {path}: first IFD at {first_ifd} has {entries} entries")
    for k in range(entries):
        at = count_size + k * entry_size
        tag = struct.unpack_from("<H", ifd, at)[0]
        if tag != _IMAGE_DESCRIPTION:
            continue
        fmt = "<QQ" if offset_size == 8 else "<II"
        length, where = struct.unpack_from(fmt, ifd, at + 4)
        if length <= offset_size:
            raise ReadError(f"GET {path}: an ImageDescription of {length} bytes")
        _, text = client.range(path, where, where + length)
        xml = text.rstrip(b"\x00 \n\r\t")
        if not (xml.lstrip().startswith(b"<") and xml.endswith(b"</OME>")):
            raise ReadError(f"GET {path}: torn OME-XML ({length} bytes at {where})")
        return xml
    raise ReadError(f"GET {path}: no ImageDescription in the first IFD")


POLLS = {"zarr": poll_zarr, "tiff": poll_tiff}


def run(settings: Settings, stop: threading.Event) -> dict[str, Any]:
    """Poll until `stop` is set (at least once); the counts."""
    counts = Counts()
    client = Client(settings["host"], settings["port"], counts)
    frames = Frames(settings["counter"], settings["window"])
    poll = POLLS[settings["kind"]]
    shown = Shown()
    began, cpu = time.monotonic(), time.process_time()
    # independent viewers poll out of step: not all at the moment the run starts
    stop.wait(random.uniform(0, settings["interval"]))
    try:
        while True:
            try:
                poll(client, settings, frames(), counts, shown)
            except ReadError as e:
                counts.error(str(e))
            except NotYet:
                counts.not_yet += 1
            if stop.wait(settings["interval"]):
                break
    finally:
        client.close()
        frames.close()
    return counts.as_dict(time.monotonic() - began, time.process_time() - cpu)


def warm_up(settings: Settings) -> None:
    """One request that reads nothing (a CORS preflight), so that the server
    has answered before the run and its first reply's costs fall outside it."""
    conn = http.client.HTTPConnection(settings["host"], settings["port"], timeout=60)
    try:
        conn.request("OPTIONS", "/")
        conn.getresponse().read()
    finally:
        conn.close()


def main() -> None:
    settings: Settings = json.loads(sys.stdin.readline())
    if settings.get("nice"):
        os.nice(settings["nice"])
    warm_up(settings)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return  # stopped before the run began
    stop = threading.Event()

    def wait_for_eof() -> None:
        while sys.stdin.readline():
            pass
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(json.dumps(run(settings, stop)), flush=True)


if __name__ == "__main__":
    main()
