"""Route HTTP requests to the functions registered in a FunctionApp, as the Functions host does.

Used by the local host (`python -m trackly serve`). Routes come from the FunctionApp itself,
never from a second list, so the local host serves exactly what Azure would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

ROUTE_PREFIX = "api"

# ASP.NET route constraints -> werkzeug converters.
_CONVERTERS = {"int": "int", "guid": "uuid", "alpha": "string", "long": "int"}
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}")


def to_werkzeug(route: str) -> str:
    def convert(match: re.Match[str]) -> str:
        catch_all, name, constraint, _optional = match.groups()
        if catch_all:
            return f"<path:{name}>"
        converter = _CONVERTERS.get(constraint or "", "string")
        return f"<{converter}:{name}>"

    return "/" + ROUTE_PREFIX + "/" + _PARAM.sub(convert, route.strip("/"))


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    user_function: Callable[..., Any]


def indexed_functions(app: func.FunctionApp) -> list[func.Function]:
    """`app.get_functions()`, once: a second call on the same app raises (the builders are
    consumed), so the local host and the worker conformance tests share one result."""
    cached = getattr(app, "_trackly_indexed", None)
    if cached is None:
        cached = list(app.get_functions())
        app._trackly_indexed = cached  # type: ignore[attr-defined]
    return cached


def discover(app: func.FunctionApp) -> tuple[list[HttpFunction], list[TimerFunction]]:
    """Read the functions from the app (cached, see `indexed_functions`)."""
    cached = getattr(app, "_trackly_functions", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    http: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    for fn in indexed_functions(app):
        trigger: Any = fn.get_trigger()
        if trigger is None:
            continue
        if trigger.type == "httpTrigger":
            methods = tuple(str(getattr(m, "value", m)).upper() for m in (trigger.methods or []))
            http.append(
                HttpFunction(
                    name=str(fn.get_function_name()),
                    route=str(trigger.route or fn.get_function_name()),
                    methods=methods or ("GET", "POST", "PUT", "PATCH", "DELETE"),
                    user_function=fn.get_user_function(),
                )
            )
        elif trigger.type == "timerTrigger":
            timers.append(
                TimerFunction(
                    name=str(fn.get_function_name()),
                    schedule=trigger.schedule,
                    run_on_startup=bool(trigger.run_on_startup),
                    arg_name=trigger.name,
                    user_function=fn.get_user_function(),
                )
            )
    result = (http, timers)
    app._trackly_functions = result  # type: ignore[attr-defined]
    return result


class Router:
    def __init__(self, functions: list[HttpFunction]) -> None:
        self.functions = {f.name: f for f in functions}
        rules = [
            Rule(to_werkzeug(f.route), endpoint=f.name, methods=list(f.methods), strict_slashes=False)
            for f in functions
        ]
        self._map = Map(rules, strict_slashes=False, merge_slashes=False)
        self._adapter = self._map.bind("localhost")

    def match(self, method: str, path: str) -> tuple[HttpFunction, dict[str, str]]:
        """Raise werkzeug NotFound / MethodNotAllowed (with `valid_methods`) when nothing fits."""
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")  # collection routes answer with and without a trailing slash
        name, args = self._adapter.match(path, method=method)
        return self.functions[name], {k: str(v) for k, v in args.items()}

    def allowed_methods(self, path: str) -> list[str]:
        try:
            self._adapter.match(path.rstrip("/") or "/", method="__probe__")
        except MethodNotAllowed as exc:
            return sorted(exc.valid_methods or [])
        except NotFound:
            return []
        return []
