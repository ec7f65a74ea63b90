"""trackly.lazy: a service module is imported on the first attribute read, once, thread-safely."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from trackly.lazy import lazy


@pytest.fixture
def slow_module(tmp_path: Path) -> Iterator[str]:
    name = "trackly_lazy_probe"
    # Module execution takes a while and counts its runs, so overlapping first reads would show.
    (tmp_path / f"{name}.py").write_text(
        "import sys, time\n"
        "sys.trackly_lazy_runs = getattr(sys, 'trackly_lazy_runs', 0) + 1\n"
        "time.sleep(0.2)\n"
        "def answer():\n"
        "    return 42\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield name
    sys.path.remove(str(tmp_path))
    sys.modules.pop(name, None)
    vars(sys).pop("trackly_lazy_runs", None)


def test_nothing_is_imported_until_an_attribute_is_read(slow_module: str) -> None:
    module = lazy(slow_module)
    assert slow_module not in sys.modules
    assert module.answer() == 42
    assert slow_module in sys.modules
    assert module.answer is sys.modules[slow_module].answer


def test_concurrent_first_reads_import_the_module_once(slow_module: str) -> None:
    module = lazy(slow_module)
    results: list[int] = []
    start = threading.Barrier(8)

    def first_read() -> None:
        start.wait()
        results.append(module.answer())

    threads = [threading.Thread(target=first_read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 8
    assert vars(sys)["trackly_lazy_runs"] == 1  # executed once; every reader saw it complete
