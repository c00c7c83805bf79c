"""The app factory and the server entry point.

``create_app`` builds a new Dash app around injected state (store, cache,
Prometheus registry, scenario lab): nothing lives in module globals, so tests
and benchmarks can build as many independent apps as they like.

Examples
--------
>>> import tempfile
>>> from prometheus_client import CollectorRegistry
>>> from workbench.store import Store
>>> app = create_app(Store(tempfile.mkdtemp()), registry=CollectorRegistry(), credentials=None)
>>> client = app.server.test_client()
>>> client.get("/api/lab/status").get_json()["state"]
'idle'
>>> client.get("/metrics").status_code
200
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html
from flask import abort, send_from_directory
from prometheus_client import CollectorRegistry

from workbench.app.api import register_api
from workbench.app.cache import FrameCache
from workbench.app.context import AppContext
from workbench.app.lab import LiveFactory, ScenarioLab
from workbench.app.metrics import AppMetrics
from workbench.app.pages import PAGES
from workbench.app.pages.common import not_available
from workbench.app.security import check_bind, credentials_from_env, install_security
from workbench.app.services import Services
from workbench.app.urls import parse_query
from workbench.config import settings
from workbench.errors import WorkbenchError
from workbench.store import Store

__all__ = ["ASSETS_DIR", "create_app", "serve"]

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).with_name("assets")
_REPORT_SUFFIXES = (".html", ".json", ".png", ".svg")
_UNSET: Any = object()


def _navbar() -> dbc.Navbar:
    links = [
        dbc.NavItem(
            dbc.NavLink(
                page.TITLE, href=page.PATH, active="exact", id=f"nav-{page.__name__.rsplit('.', 1)[1]}"
            )
        )
        for page in PAGES
        if page.PATH != "/entity"
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Queue Workbench", href="/"),
                dbc.Nav(links, navbar=True),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-2",
    )


def create_app(
    store: Store | None = None,
    *,
    cache: FrameCache | None = None,
    registry: CollectorRegistry | None = None,
    lab: ScenarioLab | None = None,
    live_factory: LiveFactory | None = None,
    reports_dir: Path | None = None,
    credentials: tuple[str, str] | None = _UNSET,
    env: Mapping[str, str] | None = None,
) -> Dash:
    """Build the Dash app.

    Parameters
    ----------
    store : Store, optional
        Data source (default: the configured store).
    cache : FrameCache, optional
        Server-side cache of computed frames (default: a new one per app).
    registry : CollectorRegistry, optional
        Prometheus registry for the app's own ``/metrics`` (default: a new one).
    lab : ScenarioLab, optional
        Scenario-lab controller (default: a new one on ``store``).
    live_factory : callable, optional
        Live simulation factory for the default lab (default: the simulator's).
    reports_dir : Path, optional
        Folder of papermill reports (default: ``settings().reports_dir``).
    credentials : (user, password) or None, optional
        Basic-auth credentials; default read from ``WORKBENCH_APP_USER`` /
        ``WORKBENCH_APP_PASSWORD``; None disables auth.
    env : mapping, optional
        Environment to read credentials from (default ``os.environ``).

    Returns
    -------
    dash.Dash
        ``app.server`` is the Flask WSGI app; ``app.workbench`` the :class:`AppContext`.
    """
    store = store if store is not None else Store()
    if credentials is _UNSET:
        credentials = credentials_from_env(env if env is not None else os.environ)
    metrics = AppMetrics(registry if registry is not None else CollectorRegistry())
    services = Services(store, cache if cache is not None else FrameCache())
    ctx = AppContext(
        store=store,
        services=services,
        lab=lab if lab is not None else ScenarioLab(store, metrics=metrics, live_factory=live_factory),
        metrics=metrics,
        reports_dir=Path(reports_dir) if reports_dir is not None else settings().reports_dir,
    )
    app = Dash(
        __name__,
        assets_folder=str(ASSETS_DIR),
        assets_ignore=r"bootstrap\.min\.css",
        external_stylesheets=["/assets/bootstrap.min.css"],
        suppress_callback_exceptions=True,
        serve_locally=True,
        title="Queue Workbench",
        update_title=None,  # type: ignore[arg-type]  # None turns the title update off
    )
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            _navbar(),
            html.Div(id="page"),
        ]
    )
    pages = {page.PATH: page for page in PAGES}

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    @ctx.timed("router")
    def _route(pathname: str | None, search: str | None) -> Any:
        return render_page(ctx, pages, pathname, search)

    for page in PAGES:
        page.register(app, ctx)
    register_api(app.server, ctx.lab)
    _register_reports_route(app.server, ctx)
    metrics.install(app.server)
    install_security(app.server, credentials=credentials, script_hashes=app.csp_hashes())
    app.workbench = ctx  # type: ignore[attr-defined]
    return app


def render_page(ctx: AppContext, pages: dict[str, Any], pathname: str | None, search: str | None) -> Any:
    """The layout of the page at ``pathname`` with the URL's query (a plain function)."""
    page = pages.get(pathname or "/")
    if page is None:
        return dbc.Container(
            [
                html.H2("Not found"),
                not_available("Page", f"no page at {pathname}; pages: {', '.join(sorted(pages))}"),
            ],
            fluid=True,
        )
    try:
        return page.layout(ctx, parse_query(search))
    except WorkbenchError as err:
        logger.warning("page %s failed: %s", pathname, err)
        return dbc.Container([html.H2(page.TITLE), not_available(page.TITLE, str(err))], fluid=True)


def _register_reports_route(server: Any, ctx: AppContext) -> None:
    @server.route("/reports/<path:relpath>")  # type: ignore[untyped-decorator]
    def _report(relpath: str) -> Any:
        if not relpath.endswith(_REPORT_SUFFIXES):
            abort(404)
        # send_from_directory joins safely: no path can escape reports_dir.
        response = send_from_directory(ctx.reports_dir, relpath)
        # Reports (nbconvert, fidelity) carry inline plotly scripts: let them run, but in a
        # sandbox with an opaque origin, so a report can never act as the app.
        response.headers["Content-Security-Policy"] = (
            "sandbox allow-scripts allow-popups; default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:"
        )
        return response


def serve(
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    store: Store | None = None,
    threads: int = 8,
    env: Mapping[str, str] | None = None,
    announce: Callable[[str], Any] | None = None,
) -> None:
    """Serve the app with waitress (blocking).

    ``announce`` (e.g. ``console.print``) receives the address once the bind
    rules have passed.

    Raises
    ------
    ConfigError
        When binding beyond loopback without ``WORKBENCH_APP_USER`` / ``WORKBENCH_APP_PASSWORD``.
    """
    from waitress import serve as waitress_serve

    credentials = credentials_from_env(env if env is not None else os.environ)
    check_bind(host, credentials)
    app = create_app(store, credentials=credentials, env=env)
    message = f"Queue Workbench app on http://{host}:{port}/ (basic auth {'on' if credentials else 'off'}; Ctrl+C to stop)"
    logger.info(message)
    if announce is not None:
        announce(message)
    waitress_serve(app.server, host=host, port=port, threads=threads)
