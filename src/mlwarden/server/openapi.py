"""The OpenAPI document says what the server really answers.

* Operation ids are the handlers' names (``acknowledge``, ``post_events``), not FastAPI's
  path-derived ones; handler names are unique across the API (FastAPI warns otherwise, and
  warnings fail the tests).
* Text parameters say what :func:`~mlwarden.server.params.clean_params` enforces: no
  control characters.
* Errors: every operation documents the one error shape the server sends,
  ``{"error": {"type", "message", "errors"}}``, for 422 and as its ``default`` response (401,
  403, 404, 409, 413, 415, 421, 429, 503: whatever the route's checks refuse with), instead of
  FastAPI's ``HTTPValidationError`` that the server never sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

__all__ = ["ErrorDetail", "ErrorOut", "install", "operation_id"]


class ErrorItem(BaseModel):
    index: int | None = Field(description="The row at fault (0-based), when one is.")
    field: str = Field(description="The field at fault, e.g. 'features.age'.")
    reason: str


class ErrorDetail(BaseModel):
    type: str = Field(description="The kind of error, e.g. 'ValidationError', 'AuthError'.")
    message: str = Field(description="What is wrong and what to do about it.")
    errors: list[ErrorItem] | None = Field(
        default=None, description="One item per problem when there are several."
    )


class ErrorOut(BaseModel):
    """Every error reply of the API."""

    error: ErrorDetail


def operation_id(route: APIRoute) -> str:
    """FastAPI's ``generate_unique_id_function``: the handler's name."""
    return route.name


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


#: What :func:`mlwarden.server.params.clean_params` enforces on every query and path parameter.
NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"


def _no_control_characters(schema: dict[str, Any]) -> None:
    """State the server's rule on text parameters in their schema (strings without a
    pattern or format of their own)."""
    if schema.get("type") == "string":
        if not {"pattern", "format", "enum", "const"} & set(schema):
            schema["pattern"] = NO_CONTROL
    for branch in schema.get("anyOf", ()):
        _no_control_characters(branch)
    if isinstance(schema.get("items"), dict):
        _no_control_characters(schema["items"])


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` post-process FastAPI's document as the module docs say."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        ops = [
            op
            for item in doc.get("paths", {}).values()
            for method, op in item.items()
            if method in ("get", "put", "post", "delete", "patch")
        ]
        for op in ops:
            for param in op.get("parameters", []):
                _no_control_characters(param.get("schema", {}))
            responses = op.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):  # FastAPI's, not a route's
                responses["422"] = _error_response("The request is not valid.")
            responses["default"] = _error_response("An error, in the API's one error shape.")
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for model in (ErrorItem, ErrorDetail, ErrorOut):
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
