"""The HTTP application: read-only files of one dataset, CORS and a token."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import hdrs, web
from multidict import CIMultiDict

from ome_writers.serve._budget import SendBudget
from ome_writers.serve._file_response import file_response
from ome_writers.serve._paths import ServedRoot

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from aiohttp.typedefs import Handler, Middleware

ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
EXPOSED_HEADERS = "Content-Range, Content-Length, Accept-Ranges, ETag"
_ASK_PRIVATE_NETWORK = "Access-Control-Request-Private-Network"
_ALLOW_PRIVATE_NETWORK = "Access-Control-Allow-Private-Network"
ROOT = web.AppKey("ome_writers.serve.root", ServedRoot)
BUDGET = web.AppKey("ome_writers.serve.budget", SendBudget)


def check_token(token: str | None) -> None:
    """Raise ValueError for a token that cannot travel in a header and a URL."""
    if token is None:
        return
    if not isinstance(token, str) or not token:
        raise ValueError("token must be a non-empty string")
    if not all("!" <= c <= "~" for c in token):
        raise ValueError(
            "token must hold printable ASCII characters only (no spaces), "
            "e.g. secrets.token_urlsafe()"
        )


def _given_token(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return request.query.get("token")


def _token_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def require_token(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        # a CORS preflight never carries credentials, and reads nothing
        if request.method != hdrs.METH_OPTIONS:
            given = _given_token(request)
            if given is None or not hmac.compare_digest(given.encode(), expected):
                raise web.HTTPUnauthorized(
                    headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="ome-writers"'}
                )
        return await handler(request)

    return require_token


@web.middleware
async def _read_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    # every path, routed or not (CONNECT's authority target matches no route)
    if request.method not in ALLOWED_METHODS:
        raise web.HTTPMethodNotAllowed(request.method, ALLOWED_METHODS)
    return await handler(request)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
    response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS


async def _get(request: web.Request) -> web.StreamResponse:
    real = request.app[ROOT].resolve(request.raw_path)
    if real is None:
        raise web.HTTPNotFound()
    name = request.path.rpartition("/")[2]
    return await file_response(request, real, name, CIMultiDict(), request.app[BUDGET])


def _options(cors: bool) -> Handler:
    async def options(request: web.Request) -> web.StreamResponse:
        headers: dict[str, str] = {hdrs.ALLOW: ", ".join(ALLOWED_METHODS)}
        if cors:
            headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ", ".join(ALLOWED_METHODS)
            headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = "Range, Authorization"
            headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
            # a browser asks before a public page (a hosted viewer) may read
            # from this machine (Private Network Access)
            if request.headers.get(_ASK_PRIVATE_NETWORK, "").lower() == "true":
                headers[_ALLOW_PRIVATE_NETWORK] = "true"
        return web.Response(status=204, headers=headers)

    return options


def make_app(
    path: str | os.PathLike[str],
    *,
    cors: bool = True,
    token: str | None = None,
    routes: Iterable[web.AbstractRouteDef] = (),
    rate_limit: float | None = None,
) -> web.Application:
    """The aiohttp application serving the files of a dataset, read-only.

    GET and HEAD (byte ranges included) read regular files under `path`;
    OPTIONS answers CORS preflights; any other method gets 405, on every
    route. Paths that leave the root (``..``, encoded separators, symbolic
    links pointing outside) and directories get 404.

    Parameters
    ----------
    path
        The dataset: a directory (an OME-Zarr, a directory of OME-TIFF files)
        or one file (served at ``/NAME``).
    cors
        Let pages of any origin read the files (``Access-Control-Allow-Origin: *``).
    token
        When set, every request but a CORS preflight needs
        ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``, else 401.
    routes
        More routes (e.g. ``web.RouteTableDef()``), matched before the files.
    rate_limit
        MB/s the files are sent at most, all requests together (None: no limit).
    """
    check_token(token)
    middlewares = [_read_only, *([_token_middleware(token)] if token else [])]
    app = web.Application(middlewares=middlewares)
    app[ROOT] = ServedRoot(path)
    app[BUDGET] = SendBudget(rate_limit)
    app.add_routes(routes)
    files = app.router.add_resource("/{path:.*}", name="files")
    files.add_route(hdrs.METH_GET, _get)
    files.add_route(hdrs.METH_HEAD, _get)
    files.add_route(hdrs.METH_OPTIONS, _options(cors))
    if cors:
        app.on_response_prepare.append(_cors_headers)
    return app
