"""Record what an installed ome-writers does, as JSON fixtures for tests/compat.

Meant to be run with an interpreter that has the released ome-writers 0.3.2
(never installed into this repository's venv)::

    python3 -m venv /tmp/venv-032
    /tmp/venv-032/bin/pip install "ome-writers[all]==0.3.2" \
        "pymmcore-plus==0.18.1" "useq-schema==0.9.2"
    /tmp/venv-032/bin/python tools/compat/record_v032.py

which writes ``tests/compat/data/v032_{useq,views,plate_paths}.json``. The
same recorder runs with any interpreter whose ``ome_writers`` has the same
public API (ours included), with ``--part`` and ``--out`` to write elsewhere::

    .venv/bin/python tools/compat/record_v032.py --part useq --out /tmp/ours_useq.json

The cases come from ``tests/compat/cases.py``, imported by file path. Every
step is wrapped: an exception is recorded as ``[type name, message]`` and the
recording goes on. Each view case runs in a child process with a time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CASES_PATH = ROOT / "tests" / "compat" / "cases.py"
DATA_DIR = ROOT / "tests" / "compat" / "data"
DEFAULT_OUT = {
    "useq": DATA_DIR / "v032_useq.json",
    "views": DATA_DIR / "v032_views.json",
    "plate": DATA_DIR / "v032_plate_paths.json",
}
INCUMBENT_VERSION = "0.3.2"
BACKENDS = [
    "tensorstore",
    "zarr-python",
    "zarrs-python",
    "acquire-zarr",
    "tifffile",
    "scratch",
]
STREAM_TIMEOUT_S = 30
# 0.3.2's TIFF backend writes on a background thread: reads made right after
# append race it (zeros or not, run to run). Views are read after this pause.
SETTLE_S = 0.5
ABSENT = "<absent>"


def load_cases() -> Any:
    spec = importlib.util.spec_from_file_location("compat_cases", CASES_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def err(exc: BaseException) -> list[str]:
    return [type(exc).__name__, str(exc)]


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for dist in (
        "ome-writers",
        "useq-schema",
        "pymmcore-plus",
        "numpy",
        "pydantic",
        "tensorstore",
        "zarr",
        "zarrs",
        "acquire-zarr",
        "tifffile",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    import ome_writers

    out["ome_writers.__version__"] = getattr(ome_writers, "__version__", None)
    out["ome_writers.__file__"] = str(Path(ome_writers.__file__).parent)
    return out


def jsonable(obj: Any) -> Any:
    """Plain JSON values from numpy scalars, ranges, tuples, models."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, range)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "name") and isinstance(obj.name, str):
        return obj.name
    return repr(obj)


@contextlib.contextmanager
def time_limit(seconds: int):  # type: ignore[no-untyped-def]
    """Raise TimeoutError in the main thread after `seconds` (SIGALRM)."""

    def _raise(signum: int, frame: Any) -> None:
        raise TimeoutError(f"step took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------
# useq adapter
# ---------------------------------------------------------------------------

DIM_FIELDS = [
    "name",
    "count",
    "type",
    "unit",
    "scale",
    "chunk_size",
    "shard_size_chunks",
]
POS_FIELDS = [
    "name",
    "x_coord",
    "y_coord",
    "z_coord",
    "plate_row",
    "plate_column",
    "grid_row",
    "grid_column",
]


def _dump(model: Any) -> dict[str, Any]:
    try:
        return dict(model.model_dump())
    except AttributeError:
        return dict(vars(model))


def dimension_record(dim: Any) -> dict[str, Any]:
    dump = _dump(dim)
    rec: dict[str, Any] = {k: jsonable(dump.get(k, ABSENT)) for k in DIM_FIELDS}
    coords = getattr(dim, "coords", None)
    if coords is None:
        rec["coords"] = None
    elif rec["type"] == "position":
        rec["coords"] = [
            {k: jsonable(_dump(p).get(k, ABSENT)) for k in POS_FIELDS}
            if not isinstance(p, str)
            else {"name": p}
            for p in coords
        ]
    else:
        rec["coords"] = [jsonable(getattr(c, "name", c)) for c in coords]
    # any other field the model has (e.g. translation), only when set
    rec["other_fields"] = {
        k: jsonable(v)
        for k, v in dump.items()
        if k not in DIM_FIELDS and k != "coords" and v is not None
    }
    return rec


def plate_record(plate: Any) -> dict[str, Any] | None:
    if plate is None:
        return None
    dump = _dump(plate)
    rec = {
        k: jsonable(dump.get(k, ABSENT)) for k in ("row_names", "column_names", "name")
    }
    rec["other_fields"] = {
        k: jsonable(v)
        for k, v in dump.items()
        if k not in ("row_names", "column_names", "name") and v is not None
    }
    return rec


def record_useq_case(case: dict[str, Any], cases: Any) -> dict[str, Any]:
    import ome_writers

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq = cases.build_sequence(case)
    except Exception as e:
        return {"sequence_error": err(e)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ome_writers.useq_to_acquisition_settings(
                seq,
                cases.IMAGE_WIDTH,
                cases.IMAGE_HEIGHT,
                **cases.adapter_kwargs(case),
            )
        except Exception as e:
            rec: dict[str, Any] = {"error": err(e)}
        else:
            rec = {
                "dimensions": [dimension_record(d) for d in result["dimensions"]],
                "plate": plate_record(result.get("plate")),
                "result_keys": sorted(result),
            }
    rec["warnings"] = [
        [w.category.__name__, str(w.message)]
        for w in caught
        if "ome_writers" in str(w.filename) or w.category is not DeprecationWarning
    ]
    return rec


def record_useq(cases: Any) -> dict[str, Any]:
    import ome_writers

    out: dict[str, Any] = {
        "versions": versions(),
        "dimension_fields": sorted(
            _dump(ome_writers.Dimension(name="x", count=1, type="space"))
        ),
        "position_fields": sorted(_dump(ome_writers.Position(name="p"))),
        "plate_fields": sorted(
            _dump(ome_writers.Plate(row_names=["A"], column_names=["1"]))
        ),
        "cases": {},
    }
    for name, case in cases.USEQ_CASES.items():
        out["cases"][name] = record_useq_case(case, cases)
    return out


# ---------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------


def _format_and_root(backend: str, tmp: Path, label: str) -> tuple[Any, str]:
    if backend == "scratch":
        return {"name": "scratch"}, ""
    if backend == "tifffile":
        return {"name": "ome-tiff", "backend": "tifffile"}, str(
            tmp / f"{label}.ome.tiff"
        )
    return {"name": "ome-zarr", "backend": backend}, str(tmp / f"{label}.ome.zarr")


def _step(rec: dict[str, Any], key: str, fn: Any) -> Any:
    try:
        value = fn()
    except Exception as e:
        rec[key] = {"error": err(e)}
        return None
    rec[key] = jsonable(value)
    return value


def snapshot(view: Any) -> dict[str, Any]:
    import numpy as np

    rec: dict[str, Any] = {}
    _step(rec, "dims", lambda: list(view.dims))
    _step(rec, "shape", lambda: list(view.shape))
    _step(
        rec,
        "coords",
        lambda: {str(k): [jsonable(c) for c in v] for k, v in view.coords.items()},
    )
    _step(rec, "values", lambda: np.asarray(view)[..., 0, 0].tolist())
    return rec


def mixed_reads(view: Any) -> dict[str, Any]:
    """view[i], view[i, j] and view[:, j] over the first two non-frame axes."""
    import numpy as np

    rec: dict[str, Any] = {}
    try:
        shape = list(view.shape)
    except Exception as e:
        return {"error": err(e)}
    n_index = len(shape) - 2
    if n_index < 1:
        return rec
    for i in range(shape[0]):
        _step(rec, f"[{i}]", lambda i=i: np.asarray(view[i])[..., 0, 0].tolist())
    if n_index >= 2:
        for i in range(shape[0]):
            for j in range(shape[1]):
                _step(
                    rec,
                    f"[{i},{j}]",
                    lambda i=i, j=j: np.asarray(view[i, j])[..., 0, 0].tolist(),
                )
        for j in range(shape[1]):
            _step(
                rec,
                f"[:,{j}]",
                lambda j=j: np.asarray(view[:, j])[..., 0, 0].tolist(),
            )
    return rec


def on_disk(root: str) -> dict[str, Any]:
    """Arrays written under root: zarr array shapes/dimension names, TIFF series."""
    if not root:
        return {}
    path = Path(root)
    out: dict[str, Any] = {}
    if path.is_dir() and any(path.rglob("zarr.json")):
        for meta in sorted(path.rglob("zarr.json")):
            try:
                doc = json.loads(meta.read_text())
            except Exception as e:
                out[str(meta.parent.relative_to(path))] = {"error": err(e)}
                continue
            if doc.get("node_type") == "array":
                out[str(meta.parent.relative_to(path))] = {
                    "shape": doc.get("shape"),
                    "dimension_names": doc.get("dimension_names"),
                }
        return {"zarr_arrays": out}
    files = [path] if path.is_file() else sorted(path.rglob("*.tif*"))
    import tifffile

    for f in files:
        rel = f.name if f == path else str(f.relative_to(path))
        try:
            with tifffile.TiffFile(f) as tf:
                out[rel] = [{"shape": list(s.shape), "axes": s.axes} for s in tf.series]
        except Exception as e:
            out[rel] = {"error": err(e)}
    return {"tiff_series": out}


def _settings(case: dict[str, Any], backend: str, tmp: Path, label: str) -> Any:
    import ome_writers

    cases = load_cases()
    fmt, root = _format_and_root(backend, tmp, label)
    return ome_writers.AcquisitionSettings(
        root_path=root,
        dimensions=cases.view_dimensions(case, ome_writers.Dimension),
        dtype=cases.VIEW_DTYPE,
        format=fmt,
        storage_order=case["storage_order"],
        overwrite=True,
    )


def record_full_stream(case: dict[str, Any], backend: str, tmp: Path) -> dict:
    import ome_writers

    cases = load_cases()
    rec: dict[str, Any] = {}
    settings = _step(rec, "settings", lambda: _settings(case, backend, tmp, "full"))
    if settings is None:
        return rec
    rec["settings"] = "ok"
    _step(
        rec,
        "storage_dims",
        lambda: [d.name for d in settings.array_storage_dimensions],
    )
    stream = _step(rec, "create", lambda: ome_writers.create_stream(settings))
    if stream is None:
        return rec
    rec["create"] = "ok"
    n = cases.view_num_frames(case)
    written = 0
    try:
        for k in range(n):
            stream.append(cases.view_frame(k))
            written += 1
    except Exception as e:
        rec["append_error"] = [*err(e), written]
    rec["frames_appended"] = written
    time.sleep(SETTLE_S)
    early: Any = None
    try:
        early = stream.view()
    except Exception as e:
        rec["before_close"] = {"view_error": err(e)}
    if early is not None:
        rec["before_close"] = {
            "dynamic": snapshot(early),
            "reads": mixed_reads(early),
        }
        try:
            rec["before_close"]["static"] = snapshot(stream.view(dynamic_shape=False))
        except Exception as e:
            rec["before_close"]["static"] = {"view_error": err(e)}
    _step(rec, "close", stream.close)
    rec["close"] = rec.get("close") or "ok"
    after: dict[str, Any] = {}
    for key, kwargs in (("dynamic", {}), ("static", {"dynamic_shape": False})):
        try:
            after[key] = snapshot(stream.view(**kwargs))
        except Exception as e:
            after[key] = {"view_error": err(e)}
    if early is not None:
        after["view_made_before_close"] = snapshot(early)
    rec["after_close"] = after
    try:
        rec["on_disk"] = on_disk(
            str(settings.output_path) if settings.root_path else ""
        )
    except Exception as e:
        rec["on_disk"] = {"error": err(e)}
    return rec


def record_partial_stream(case: dict[str, Any], backend: str, tmp: Path) -> dict:
    import ome_writers

    cases = load_cases()
    rec: dict[str, Any] = {}
    settings = _step(rec, "settings", lambda: _settings(case, backend, tmp, "part"))
    if settings is None:
        return rec
    rec["settings"] = "ok"
    stream = _step(rec, "create", lambda: ome_writers.create_stream(settings))
    if stream is None:
        return rec
    rec["create"] = "ok"
    written = 0
    try:
        for k in range(3):
            stream.append(cases.view_frame(k))
            written += 1
    except Exception as e:
        rec["append_error"] = [*err(e), written]
    rec["frames_appended"] = written
    time.sleep(SETTLE_S)
    try:
        rec["dynamic"] = snapshot(stream.view())
    except Exception as e:
        rec["dynamic"] = {"view_error": err(e)}
    try:
        rec["static"] = snapshot(stream.view(dynamic_shape=False))
    except Exception as e:
        rec["static"] = {"view_error": err(e)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _step(rec, "close", stream.close)
    rec["close"] = rec.get("close") or "ok"
    return rec


def worker_view(case_index: int, backend: str) -> dict[str, Any]:
    """One view case on one backend (run in a child process)."""
    cases = load_cases()
    case = cases.VIEW_CASES[case_index]
    out: dict[str, Any] = {}
    for key, fn in (("full", record_full_stream), ("partial", record_partial_stream)):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            try:
                with time_limit(STREAM_TIMEOUT_S), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out[key] = fn(case, backend, Path(d))
            except TimeoutError as e:
                out[key] = {"timeout": err(e)}
            except Exception as e:
                out[key] = {"error": err(e), "traceback": traceback.format_exc()}
        out[key]["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def storage_order_validation(cases: Any) -> dict[str, Any]:
    """Which explicit storage_order lists the installed package accepts."""
    import ome_writers

    out: dict[str, Any] = {}
    for name, dims in cases.VIEW_DIMS.items():
        names = [d["name"] for d in dims]
        index = [n for n in names[:-2] if n != "p"]
        rev = list(reversed(index))
        trials = {
            "all_dims": [*rev, *([] if "p" not in names else ["p"]), "y", "x"],
            "without_p": [*rev, "y", "x"],
            "without_yx": [*rev, *([] if "p" not in names else ["p"])],
            "swapped_yx": [*rev, *([] if "p" not in names else ["p"]), "x", "y"],
            "index_only_without_p": rev,
        }
        res: dict[str, Any] = {}
        for tname, order in trials.items():
            for fmt, root in (
                ("ome-zarr", "a.ome.zarr"),
                ("ome-tiff", "a.ome.tiff"),
                ("scratch", ""),
            ):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        s = ome_writers.AcquisitionSettings(
                            root_path=root,
                            format=fmt,
                            dimensions=[ome_writers.Dimension(**d) for d in dims],
                            dtype="uint16",
                            storage_order=order,
                        )
                    try:
                        storage = [d.name for d in s.array_storage_dimensions]
                    except Exception as e:
                        storage = err(e)
                    res[f"{tname}/{fmt}"] = {"order": order, "ok": storage}
                except Exception as e:
                    res[f"{tname}/{fmt}"] = {"order": order, "error": err(e)}
        out[name] = res
    return out


def record_views(cases: Any, backends: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "versions": versions(),
        "backends": backends,
        "settle_seconds": SETTLE_S,
        "storage_order_validation": storage_order_validation(cases),
        "cases": {},
    }
    for idx, case in enumerate(cases.VIEW_CASES):
        per_backend: dict[str, Any] = {}
        for backend in backends:
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker-view", str(idx), backend],
                    capture_output=True,
                    text=True,
                    timeout=3 * STREAM_TIMEOUT_S,
                )
                lines = [
                    ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")
                ]
                if lines:
                    per_backend[backend] = json.loads(lines[-1][len("@@RESULT@@") :])
                else:
                    per_backend[backend] = {
                        "worker_failed": [proc.returncode, proc.stderr[-2000:]]
                    }
            except subprocess.TimeoutExpired:
                per_backend[backend] = {"timeout": ["TimeoutExpired", "worker killed"]}
            print(
                f"  {case['name']:<30} {backend:<13} {time.perf_counter() - t0:5.1f}s",
                file=sys.stderr,
            )
        out["cases"][case["name"]] = {
            "dims": case["dims"],
            "storage_order": case["storage_order"],
            "backends": per_backend,
        }
    return out


# ---------------------------------------------------------------------------
# plate paths
# ---------------------------------------------------------------------------


def _walk_zarr(root: Path) -> dict[str, list[str]]:
    arrays, groups = [], []
    for meta in sorted(root.rglob("zarr.json")):
        rel = meta.parent.relative_to(root).as_posix()
        rel = "" if rel == "." else rel
        try:
            node = json.loads(meta.read_text()).get("node_type")
        except Exception:
            node = "?"
        (arrays if node == "array" else groups).append(rel)
    return {"array_paths": sorted(arrays), "group_paths": sorted(groups)}


def record_plate_case(case: dict[str, Any], cases: Any, tmp: Path) -> dict:
    import ome_writers

    rec: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq = cases.build_sequence(case)
            adapted = ome_writers.useq_to_acquisition_settings(
                seq, cases.IMAGE_WIDTH, cases.IMAGE_HEIGHT, **cases.adapter_kwargs(case)
            )
    except Exception as e:
        return {"adapter_error": err(e)}
    pos_dim = [d for d in adapted["dimensions"] if d.type == "position"]
    rec["position_names"] = [p.name for p in pos_dim[0].coords] if pos_dim else []
    rec["positions"] = dimension_record(pos_dim[0])["coords"] if pos_dim else []
    rec["dimensions"] = [[d.name, d.count, d.type] for d in adapted["dimensions"]]
    n_frames = math.prod(d.count for d in adapted["dimensions"][:-2])
    for label, fmt, root in (
        (
            "ome-zarr/tensorstore",
            {"name": "ome-zarr", "backend": "tensorstore"},
            tmp / "plate.ome.zarr",
        ),
        (
            "ome-tiff/tifffile",
            {"name": "ome-tiff", "backend": "tifffile"},
            tmp / "plate.ome.tiff",
        ),
    ):
        sub: dict[str, Any] = {}
        try:
            with time_limit(STREAM_TIMEOUT_S), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                settings = ome_writers.AcquisitionSettings(
                    root_path=str(root),
                    format=fmt,
                    dtype="uint16",
                    overwrite=True,
                    **adapted,
                )
                sub["output_path"] = Path(settings.output_path).name
                import numpy as np

                with ome_writers.create_stream(settings) as stream:
                    for k in range(n_frames):
                        stream.append(
                            np.full(
                                (cases.IMAGE_HEIGHT, cases.IMAGE_WIDTH),
                                k + 1,
                                dtype="uint16",
                            )
                        )
            out_path = Path(settings.output_path)
            if fmt["name"] == "ome-zarr":
                sub.update(_walk_zarr(out_path))
            else:
                # every file the TIFF write created, relative to the temp dir
                sub["files"] = sorted(
                    p.relative_to(tmp).as_posix()
                    for p in tmp.rglob("*")
                    if p.is_file()
                    and not p.relative_to(tmp).as_posix().startswith("plate.ome.zarr")
                )
        except Exception as e:
            sub["error"] = err(e)
        rec[label] = sub
    return rec


def record_plate(cases: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"versions": versions(), "cases": {}}
    for name, case in cases.PLATE_PATH_CASES.items():
        with tempfile.TemporaryDirectory() as d:
            out["cases"][name] = record_plate_case(case, cases, Path(d))
    return out


# ---------------------------------------------------------------------------


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--part", choices=["useq", "views", "plate", "all"], default="all"
    )
    parser.add_argument("--out", type=Path, help="output file (with one --part)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="write <part>.json files here instead of the fixtures",
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--force",
        action="store_true",
        help="write the v032 fixtures with another ome-writers",
    )
    parser.add_argument(
        "--worker-view", nargs=2, metavar=("INDEX", "BACKEND"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)

    # error messages of 0.3.2 list set members; a fixed hash seed keeps them stable
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        rest = sys.argv[1:] if argv is None else argv
        cmd = [sys.executable, str(Path(__file__).resolve()), *rest]
        os.execve(sys.executable, cmd, env)

    if args.worker_view:
        idx, backend = args.worker_view
        result = worker_view(int(idx), backend)
        sys.stdout.write("@@RESULT@@" + json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)  # skip interpreter teardown of backend threads

    parts = ["useq", "views", "plate"] if args.part == "all" else [args.part]
    if args.out and len(parts) != 1:
        parser.error("--out needs a single --part")
    if not args.out and not args.out_dir:
        import ome_writers

        version = getattr(ome_writers, "__version__", None)
        if version != INCUMBENT_VERSION and not args.force:
            parser.error(
                f"ome_writers {version} is not {INCUMBENT_VERSION}: refusing to "
                "overwrite the v032 fixtures (use --out/--out-dir, or --force)"
            )

    cases = load_cases()
    for part in parts:
        if args.out:
            path = args.out
        elif args.out_dir:
            path = args.out_dir / f"{part}.json"
        else:
            path = DEFAULT_OUT[part]
        if part == "useq":
            data = record_useq(cases)
        elif part == "views":
            data = record_views(cases, args.backends.split(","))
        else:
            data = record_plate(cases)
        write_json(path, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
