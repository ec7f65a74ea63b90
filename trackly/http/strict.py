"""JSON types are taken at their word: no `"5"` for an integer, `true` for a number, `0` for a
boolean or a number for a date-time.

pydantic's lax mode coerces all of these (and its strict mode refuses what JSON cannot express,
like a date-time string), so request bodies are checked here against the JSON type each field
declares in the OpenAPI document, before pydantic validates them. Query strings are text by
nature: `?limit=5` stays fine there, but a date or date-time parameter must look like one
(lax pydantic would read `?to=0` as 1970-01-01).
"""

from __future__ import annotations

import re
import types
import typing
from datetime import date, datetime
from functools import cache
from typing import Any

from pydantic import BaseModel

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _base(annotation: Any) -> Any:
    """`Annotated[int | None, ...]` -> int; a union of several real types -> None (not checked)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        real = [a for a in typing.get_args(annotation) if _base(a) is not type(None)]
        return _base(real[0]) if len(real) == 1 else None
    return annotation


@cache
def _kinds(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        base = _base(info.annotation)
        if base in (bool, int, float, datetime, date) or (
            isinstance(base, type) and issubclass(base, BaseModel)
        ):
            out[info.alias or name] = base
    return out


def _wrong(kind: Any, value: Any) -> str | None:
    if value is None:
        return None  # optional fields: pydantic decides whether null is allowed
    if kind is bool:
        return None if isinstance(value, bool) else "Must be a JSON boolean (true or false)."
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "Must be a JSON integer."
        return None  # 5.0 is an integer in JSON Schema; 0.5 is refused by pydantic
    if kind is float:
        return (
            None
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else "Must be a JSON number."
        )
    if kind is datetime:
        return None if isinstance(value, str) else "Must be a date-time string (RFC 3339)."
    if kind is date:
        return None if isinstance(value, str) else "Must be a date string (YYYY-MM-DD)."
    return None


def body_type_errors(model: type[BaseModel], data: Any, where: str = "body") -> list[dict[str, Any]]:
    """Field errors for JSON values of the wrong JSON type (nested models included)."""
    if not isinstance(data, dict):
        return []  # pydantic reports a non-object itself
    errors: list[dict[str, Any]] = []
    for key, kind in _kinds(model).items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            errors += body_type_errors(kind, value, f"{where}.{key}")
            continue
        message = _wrong(kind, value)
        if message:
            errors.append({"loc": f"{where}.{key}", "msg": message, "type": "wrong_json_type"})
    return errors


def query_type_errors(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Date and date-time query parameters must be written as such (not as a Unix timestamp)."""
    errors: list[dict[str, Any]] = []
    for key, kind in _kinds(model).items():
        value = data.get(key)
        if not isinstance(value, str):
            continue
        if kind is date and not _ISO_DATE.match(value):
            errors.append(
                {"loc": f"query.{key}", "msg": "Must be a date (YYYY-MM-DD).", "type": "date_format"}
            )
        elif kind is datetime and not _ISO_DATETIME.match(value):
            errors.append(
                {"loc": f"query.{key}", "msg": "Must be a date-time (RFC 3339).", "type": "datetime_format"}
            )
    return errors
