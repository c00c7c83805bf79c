"""Basic auth, security headers and the bind-address rule of the app server.

- Basic auth is optional on loopback and required anywhere else: credentials
  come from ``WORKBENCH_APP_USER`` / ``WORKBENCH_APP_PASSWORD``.
- Every response carries a Content-Security-Policy limited to the app's own
  origin (plus the hashes of Dash's inline renderer script), ``nosniff``,
  ``DENY`` framing, and no referrer.

Examples
--------
>>> credentials_from_env({"WORKBENCH_APP_USER": "ops", "WORKBENCH_APP_PASSWORD": "s3cret"})
('ops', 's3cret')
>>> credentials_from_env({}) is None
True
>>> check_bind("127.0.0.1", None)
>>> try:
...     check_bind("0.0.0.0", None)
... except Exception as err:
...     print(type(err).__name__)
ConfigError
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Mapping, Sequence

from flask import Flask, Request, Response, request

from workbench.errors import ConfigError

__all__ = [
    "LOOPBACK_HOSTS",
    "check_bind",
    "credentials_from_env",
    "install_security",
    "is_authorized",
]

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
USER_ENV = "WORKBENCH_APP_USER"
PASSWORD_ENV = "WORKBENCH_APP_PASSWORD"


def credentials_from_env(env: Mapping[str, str]) -> tuple[str, str] | None:
    """Return ``(user, password)`` from the environment, or None when unset.

    Raises
    ------
    ConfigError
        When only one of the two variables is set, or either is empty.
    """
    user, password = env.get(USER_ENV), env.get(PASSWORD_ENV)
    if user is None and password is None:
        return None
    if not user or not password:
        raise ConfigError(f"set both {USER_ENV} and {PASSWORD_ENV} (non-empty) to enable basic auth")
    return user, password


def check_bind(host: str, credentials: tuple[str, str] | None) -> None:
    """Refuse to bind beyond loopback without credentials.

    Raises
    ------
    ConfigError
        When ``host`` is not a loopback address and no credentials are set.
    """
    if host not in LOOPBACK_HOSTS and credentials is None:
        raise ConfigError(
            f"binding to {host!r} exposes the app beyond this machine: set {USER_ENV} and "
            f"{PASSWORD_ENV} to require basic auth, or bind to 127.0.0.1"
        )


def is_authorized(req: Request, credentials: tuple[str, str] | None) -> bool:
    """Whether a request carries the expected basic-auth credentials (constant-time compare)."""
    if credentials is None:
        return True
    header = req.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    ok_user = hmac.compare_digest(user.encode(), credentials[0].encode())
    ok_password = hmac.compare_digest(password.encode(), credentials[1].encode())
    return ok_user and ok_password


def content_security_policy(script_hashes: Sequence[str]) -> str:
    """The CSP header value: only this origin, plus Dash's inline-script hashes."""
    scripts = " ".join(h if h.startswith("'") else f"'{h}'" for h in script_hashes)
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {scripts}".strip(),
            # Plotly and React set inline style attributes; no inline <style> from users.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
        ]
    )


def install_security(
    server: Flask,
    *,
    credentials: tuple[str, str] | None,
    script_hashes: Sequence[str] = (),
    realm: str = "Queue Workbench",
) -> None:
    """Register basic auth (when credentials are set) and security headers on a Flask server."""
    csp = content_security_policy(script_hashes)

    @server.before_request
    def _require_auth() -> Response | None:
        if is_authorized(request, credentials):
            return None
        return Response(
            "authentication required\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'},
        )

    @server.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if credentials is not None:
            response.headers["Cache-Control"] = "no-store"
        return response
