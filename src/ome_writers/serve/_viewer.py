"""The viewer page at ``/`` and its API under ``/_viewer/``.

``GET /_viewer/info`` describes the dataset (JSON); ``GET
/_viewer/plane?level=K&DIM=I...`` sends one (y, x) plane as raw little-endian
pixels, its shape and type in the ``X-Plane-Shape`` and ``X-Plane-Dtype``
headers. The page polls ``info`` to follow an acquisition.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import hdrs, web

from ome_writers.serve._app import make_app
from ome_writers.serve._viewer_data import ViewerDataset, ViewerRequestError

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

    from ome_writers.serve._viewer_data import ViewedDataset

PREFIX = "/_viewer/"
_T = TypeVar("_T")
# query keys that are not dimension indices
_NOT_INDICES = ("level", "token")
_NO_CACHE: dict[str, str] = {hdrs.CACHE_CONTROL: "no-store"}


@functools.cache
def page_html() -> str:
    """The page, its style and script inlined (one request, the token once)."""
    static = resources.files("ome_writers.serve") / "static"
    html = (static / "index.html").read_text("utf-8")
    css = (static / "viewer.css").read_text("utf-8")
    js = (static / "viewer.js").read_text("utf-8")
    return html.replace("/*VIEWER_CSS*/", css).replace("/*VIEWER_JS*/", js)


def _error(e: Exception) -> web.Response:
    if isinstance(e, ViewerRequestError):
        status, message = e.status, str(e)
    else:  # a read that failed: the page shows why and asks again
        status, message = 500, f"reading the dataset failed: {type(e).__name__}: {e}"
    return web.json_response({"error": message}, status=status, headers=_NO_CACHE)


def viewer_routes(
    dataset: ViewerDataset, executor: ThreadPoolExecutor
) -> list[web.RouteDef]:
    """The page and API routes over `dataset`, its reads run on `executor`."""

    async def in_thread(call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=page_html(),
            content_type="text/html",
            headers={hdrs.CACHE_CONTROL: "no-cache"},
        )

    async def info(request: web.Request) -> web.Response:
        try:
            doc: dict[str, Any] = await in_thread(dataset.info)
        except Exception as e:
            return _error(e)
        return web.json_response(doc, headers=_NO_CACHE)

    async def plane(request: web.Request) -> web.Response:
        query = request.query
        indices = {k: v for k, v in query.items() if k not in _NOT_INDICES}
        text = query.get("level", "0")
        try:
            if not text.isdigit():
                raise ViewerRequestError(400, f"level={text!r} is not a level index")
            level = int(text)
            data = await in_thread(lambda: dataset.plane(level, indices))
        except Exception as e:
            return _error(e)
        height, width = data.shape
        return web.Response(
            body=data.tobytes(),
            content_type="application/octet-stream",
            headers={
                **_NO_CACHE,
                "X-Plane-Shape": f"{height},{width}",
                "X-Plane-Dtype": data.dtype.name,
            },
        )

    return [
        web.get("/", page),
        web.get(PREFIX + "info", info),
        web.get(PREFIX + "plane", plane),
    ]


def make_viewer_app(
    path: str | os.PathLike[str],
    *,
    cors: bool = True,
    token: str | None = None,
    opener: Callable[[str], ViewedDataset] | None = None,
    rate_limit: float | None = None,
) -> web.Application:
    """`make_app` over `path` with the viewer page and its API.

    The dataset is opened on the first request (it may not exist yet when the
    server starts) and read on one thread of its own, so a slow read never
    holds the event loop that answers the other requests.
    """
    dataset = ViewerDataset(path, opener)
    executor = ThreadPoolExecutor(1, thread_name_prefix="ome-writers-viewer")
    app = make_app(
        path,
        cors=cors,
        token=token,
        routes=viewer_routes(dataset, executor),
        rate_limit=rate_limit,
    )

    async def close(app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, dataset.close)
        executor.shutdown(wait=False)

    app.on_cleanup.append(close)
    return app
