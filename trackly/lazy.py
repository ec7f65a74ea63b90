"""Modules imported on first use, so the service layer and the ORM stay out of cold start.

    if TYPE_CHECKING:
        from trackly.issues import service
    else:
        service = lazy("trackly.issues.service")

Type checkers see the real module; at run time the first attribute read imports it (under
Python's per-module import lock, so concurrent first requests are safe) and later reads forward
to it.
"""

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    return LazyModule(name)
