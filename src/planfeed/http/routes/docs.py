"""Swagger UI at ``/swagger/`` from assets shipped in the package, so it works offline.

The assets are the npm package swagger-ui-dist, vendored under ``http/static/swagger`` (see the
README there). The page may load nothing from another origin: its Content-Security-Policy says
so, and the validator badge (which would call validator.swagger.io) is switched off.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX = "/static"
SWAGGER_PATH = "/swagger/"

# Swagger UI's page runs one inline script (its configuration) and sets inline styles; every
# fetch, script, style, image and font must come from this server.
SWAGGER_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; "
    "base-uri 'self'; form-action 'self'"
)

SWAGGER_UI_PARAMETERS = {
    "validatorUrl": None,  # the default posts the spec to validator.swagger.io
    "displayRequestDuration": True,
}

router = APIRouter(include_in_schema=False)


def _root_path(request: Request) -> str:
    """The mount prefix behind a reverse proxy (``--root-path``), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get(SWAGGER_PATH, response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive API description, reading ``/openapi.json``."""
    root = _root_path(request)
    assets = f"{root}{STATIC_PREFIX}/swagger"
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    page.headers["Content-Security-Policy"] = SWAGGER_CSP
    page.headers["Cache-Control"] = "no-cache"
    return page


@router.get(SWAGGER_PATH.rstrip("/"))
def swagger_ui_without_slash(request: Request) -> RedirectResponse:
    """``/swagger`` is where people type it; the page lives at ``/swagger/``."""
    return RedirectResponse(f"{_root_path(request)}{SWAGGER_PATH}", status_code=308)


def install(app: FastAPI) -> None:
    """Serve the package's static files and the Swagger UI page."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
