"""Write-throughput benchmark of ome-writers, using only the public API.

Each measurement runs in its own process (so peak RSS belongs to one writer),
on pre-generated, realistic frames (structured background + shot noise). The
same bytes are also written directly with tensorstore, acquire-zarr and
tifffile ("raw" rows) and with one sequential file write per frame ("disk"),
so our overhead shows as a ratio. Each scenario's ceiling is measured in the
same repeat ("ceiling", `_run_ceiling`): its bytes written with direct I/O,
several writes in flight, into one preallocated file and one file per frame
(the faster counts), and for a compressed scenario the codec's single-core
rate times the cores; "÷ceiling" and "÷CPU ceiling" divide each row by them.
``--compare PYTHON`` runs the same public-API code under another interpreter,
e.g. a virtual environment holding ome-writers 0.3.2; ``--repeat N``
interleaves the rows N times (the raw baselines after every repeat of the
others) and reports medians, which is what makes figures from a noisy machine
comparable.

Scenarios (frame sizes before ``--quick``, which divides them by 8 and
runs only (a) unless ``-s`` names others; docs/cli.md describes every
scenario and column):

a. 200 frames 2048², chunk = frame, uncompressed
b. t4 c2 z16 of 1024², chunks (1, 1, 16, 256, 256): chunks span frames
c. 100 frames 2048², 512² chunks, one shard per frame
d. (a) with blosc-zstd
e. t10, 8 positions, c2 of 1024²
f. unbounded t, 500 frames of 512²
g. the demo camera through pymmcore-plus ``mda.run`` at its top rate, and its
   sequence acquisition drained zero-copy from the ring buffer
h. a 96-well plate, 4 fields per well (384 positions), c2 of 256²
p. (a) with a 4-level mean pyramid written while streaming; "÷flat" is its
   durable throughput over (a)'s with the same backend in the same run
w. unbounded t, 3000 frames of 512² with the loss window; "÷off" is its frame
   rate over (n)'s
n. (w) without the loss window
m. unbounded t in chunks of 1024, 16² frames, six metadata keys per frame

Every writer row also reports the time `create_stream` took (the first stream
of the process, after ``import ome_writers`` and the backend's library, and the
median of five more) and the throughput from before `create_stream` to after
``os.sync()`` ("+create"), so fixed costs count. Our modules are byte-compiled
before the first row, as installing a wheel does (`compile_package`).

Object storage: ``--s3`` adds an "→ S3" row per OME-Zarr backend that writes
``s3://``, into a loopback S3 server (moto's server mode on 127.0.0.1, a
separate process; moto comes with the test extra); "÷local" is its durable
throughput over the same backend's local-disk row.

Readers while writing: ``--readers 8`` runs each backend's row of the
scenarios with one image (a, c, d, f, p, w, n, m) again in the same repeat,
its dataset served over HTTP (`ome_writers.serve.start`) and polled by 8
reader processes as viewers poll it; "÷no readers" is each repeat's +create
ratio to the row without readers (geometric mean), "reader errors" the
requests that failed, which should be none.

Latency under a camera's rate: ``--fps 100`` offers frames at 100 fps (as fast
as appends return otherwise) and counts appends that outlast a frame period;
``--paced 0.7`` offers them at 70 % of the ceiling measured for the same
scenario in the same repeat (the lower of the disk and CPU ceilings).

Usage: ``ome-writers bench [-s a b ...] [--repeat 3] [--compare PY] [--json]``
(or ``python -m ome_writers.benchmark``).

``--plot FILE.png`` also draws durable throughput and append-latency
distributions (`ome_writers.tools.plots`, the ``plot`` extra), after a run or
from rows saved with ``--json`` (``--load``). Each row keeps a sample of its
append latencies for that (``latencies_ms``, at most 2000 values), which the
tables leave out.

The modules, those of the parent process first:

- `_cli`: the arguments and `main`;
- `_plan`: which rows run, in which order, each in a worker process;
- `_summary`: medians over repeats and the ratios between rows;
- `_tables`: text, rich and Markdown tables, and JSON rows;

and those that measure, in the worker processes:

- `_worker_entry`: the script a worker process runs, by path;
- `_worker`: one job to the runner of its row;
- `_run_ours`: ome-writers through its public API, and the demo camera;
- `_run_baselines`: the raw libraries and the plain sequential write;
- `_run_ceiling`: the disk ceiling (direct I/O) and the codec's CPU ceiling;
- `_measure`: one timed run of appends, close and sync;
- `_readers`: the HTTP server and reader processes beside a run (``--readers``);
- `_http_reader`: the script each reader process runs, by path;
- `_scenarios`: the scenarios and their frames;
- `_s3`: the bucket the workers write to, and the loopback S3 server.

With ``--compare`` a worker runs under another interpreter, whose
ome-writers may be an older version without this package. So the measuring
modules import only the standard library, numpy and one another when they
load, and ome-writers inside the runners; `_worker_entry` loads this folder
as a package of its own, not as part of the installed ome-writers. This file
imports nothing for the same reason.
"""
