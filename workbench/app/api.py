"""REST control API of the scenario lab, with its OpenAPI 3.1 document.

Routes (JSON in and out, same auth as the app):

- ``GET  /api/lab/status``   state of the lab
- ``POST /api/lab/start``    ``{"scenario": str, "seed": int, "speed": float}``
- ``POST /api/lab/pause`` / ``POST /api/lab/resume``
- ``POST /api/lab/inject``   ``{"kind": str, "target": str, "duration_s": float, "severity": str}``
- ``POST /api/lab/stop``     ``{"record": bool}``
- ``GET  /api/openapi.json`` this description

Errors answer ``{"error": message}`` with 400 (bad parameter), 409 (wrong
state) or 503 (the simulator has no live mode).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from workbench.app.lab import ScenarioLab
from workbench.app.services import Unavailable
from workbench.errors import ParameterError, WorkbenchError

__all__ = ["openapi_document", "register_api"]

logger = logging.getLogger(__name__)

_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "state": {"type": "string", "enum": ["idle", "running", "paused", "stopped"]},
        "scenario": {"type": ["string", "null"]},
        "seed": {"type": "integer"},
        "speed": {"type": "number"},
        "ticks": {"type": "integer"},
        "injected": {"type": "array", "items": {"type": "object"}},
        "recorded_dataset": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "started": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["state", "ticks"],
}
_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _op(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {
                "description": "Lab status",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LabStatus"}}},
            },
            "400": {
                "description": "Bad parameter",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "401": {"description": "Authentication required (when basic auth is on)"},
            "409": {
                "description": "Not allowed in the lab's current state",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "503": {
                "description": "The simulator has no live mode",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the control API.

    Examples
    --------
    >>> sorted(openapi_document()["paths"])[:2]
    ['/api/lab/inject', '/api/lab/pause']
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Queue Workbench scenario lab",
            "version": "1.0.0",
            "description": "Start, pause, inject into and stop a live simulation.",
        },
        "components": {
            "schemas": {"LabStatus": _STATUS_SCHEMA, "Error": _ERROR_SCHEMA},
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}, {}],
        "paths": {
            "/api/lab/status": {"get": _op("Current state of the lab")},
            "/api/lab/start": {
                "post": _op(
                    "Start a scenario run",
                    {
                        "type": "object",
                        "properties": {
                            "scenario": {"type": "string"},
                            "seed": {"type": "integer", "default": 1},
                            "speed": {
                                "type": "number",
                                "default": 60,
                                "description": "simulated seconds per wall second",
                            },
                        },
                        "required": ["scenario"],
                    },
                )
            },
            "/api/lab/pause": {"post": _op("Pause the run")},
            "/api/lab/resume": {"post": _op("Resume a paused run")},
            "/api/lab/inject": {
                "post": _op(
                    "Inject an incident now",
                    {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string"},
                            "target": {"type": "string"},
                            "duration_s": {"type": "number", "default": 600},
                            "severity": {
                                "type": "string",
                                "enum": ["info", "warning", "critical"],
                                "default": "warning",
                            },
                        },
                        "required": ["kind", "target"],
                    },
                )
            },
            "/api/lab/stop": {
                "post": _op(
                    "Stop the run and record it to the store",
                    {"type": "object", "properties": {"record": {"type": "boolean", "default": True}}},
                )
            },
        },
    }


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError("body", allowed="a JSON object", received=type(data).__name__)
    return data


def register_api(server: Any, lab: ScenarioLab) -> None:
    """Mount the control API on the app's Flask server."""
    bp = Blueprint("workbench_lab_api", __name__, url_prefix="/api")

    def answer(fn: Any) -> tuple[Response, int]:
        try:
            return jsonify(fn()), 200
        except Unavailable as err:
            return jsonify({"error": str(err)}), 503
        except ParameterError as err:
            code = 409 if err.parameter == "state" else 400
            return jsonify({"error": str(err)}), code
        except (WorkbenchError, ValueError, TypeError) as err:
            return jsonify({"error": f"{type(err).__name__}: {err}"}), 400

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document())

    @bp.get("/lab/status")
    def status() -> tuple[Response, int]:
        return answer(lab.status)

    @bp.post("/lab/start")
    def start() -> tuple[Response, int]:
        def go() -> dict[str, Any]:
            body = _body()
            return lab.start(
                str(body.get("scenario", "")),
                seed=int(body.get("seed", 1)),
                speed=float(body.get("speed", 60.0)),
            )

        return answer(go)

    @bp.post("/lab/pause")
    def pause() -> tuple[Response, int]:
        return answer(lab.pause)

    @bp.post("/lab/resume")
    def resume() -> tuple[Response, int]:
        return answer(lab.resume)

    @bp.post("/lab/inject")
    def inject() -> tuple[Response, int]:
        def go() -> dict[str, Any]:
            body = _body()
            return lab.inject(
                str(body.get("kind", "")),
                str(body.get("target", "")),
                duration_s=float(body.get("duration_s", 600.0)),
                severity=str(body.get("severity", "warning")),
            )

        return answer(go)

    @bp.post("/lab/stop")
    def stop() -> tuple[Response, int]:
        return answer(lambda: lab.stop(record=bool(_body().get("record", True))))

    server.register_blueprint(bp)
