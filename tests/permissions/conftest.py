"""Fixtures for the permission matrix: imports every fixture defined in `fixtures_*.py` here."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from _pytest.fixtures import FixtureFunctionDefinition

_here = Path(__file__).parent
for _info in pkgutil.iter_modules([str(_here)]):
    if _info.name.startswith("fixtures_"):
        _module = importlib.import_module(f"tests.permissions.{_info.name}")
        for _name in dir(_module):
            _value = getattr(_module, _name)
            if isinstance(_value, FixtureFunctionDefinition):
                globals()[_name] = _value
