"""`python -m trackly aggregate-stats [--from DATE --to DATE]`: the timer's job from a shell.

The command lives with its domain but does not depend on the local tool: `trackly.cli` registers
it and hands it `prepare` (load local settings, start the embedded database when none is set).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

NAME = "aggregate-stats"
HELP = (
    "compute daily statistics: without --from/--to, today and every missing day back to the first "
    "event (no STATS_BACKFILL_MAX_DAYS bound); with them, rebuild that range from the events"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from",
        dest="start",
        type=date.fromisoformat,
        metavar="DATE",
        help="first UTC date to rebuild (YYYY-MM-DD); give --to as well",
    )
    p.add_argument(
        "--to", dest="end", type=date.fromisoformat, metavar="DATE", help="last UTC date to rebuild"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def aggregate_stats(args: argparse.Namespace, *, prepare: Callable[[], bool]) -> int:
    """`prepare()` readies the environment and returns True when a fresh embedded database is
    in use (then it is migrated here)."""
    if (args.start is None) != (args.end is None):
        print("Give both --from and --to, or neither.", file=sys.stderr)
        return 2
    embedded = prepare()
    from trackly import db, schema
    from trackly.config import get_settings
    from trackly.errors import TracklyError
    from trackly.stats import service

    if embedded:  # a fresh local database; elsewhere migrations are a deliberate step
        schema.upgrade()
    settings = get_settings()
    bar = _Progress(quiet=args.quiet)
    try:
        with db.session_scope() as session:
            if args.start is not None:
                bar.plan((args.end - args.start).days + 1)
                outcome = service.rebuild(
                    args.start,
                    args.end,
                    session=session,
                    settings=None,
                    chunk_days=service.PROGRESS_CHUNK_DAYS,
                    progress=bar.update,
                )
            else:
                outcome = service.run_scheduled(
                    session=session,
                    settings=settings,
                    max_days=0,
                    chunk_days=service.PROGRESS_CHUNK_DAYS,
                    progress=bar.update,
                    on_plan=bar.plan,
                )
    except TracklyError as exc:
        bar.close()
        print(exc.detail, file=sys.stderr)
        return 1
    bar.close(finished=outcome.acquired)
    if not outcome.acquired:
        print("Another aggregation run holds the lock; nothing done.", file=sys.stderr)
        return 1
    ranges = ", ".join(f"{a}..{b}" for a, b in outcome.ranges) or "none (no issue events yet)"
    print(
        f"Computed {plural(outcome.days, 'day')} ({ranges}): {plural(outcome.rows, 'row')} "
        f"in {outcome.duration_ms:.0f} ms."
    )
    return 0


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Progress:
    """A tqdm bar that appears once the number of days is known (never an empty bar first) and
    not at all when there is nothing to compute."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def plan(self, total: int) -> None:
        if self.quiet or total <= 0 or self.bar is not None:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="day", desc="aggregate-stats", file=sys.stderr)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self, *, finished: bool = False) -> None:
        if self.bar is None:
            return
        if finished and self.bar.n < self.bar.total:
            # Days before the first event are skipped, not computed: the run is still complete.
            self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()
