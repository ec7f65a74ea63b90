"""One row of daily statistics per UTC date."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, Integer, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, created_at_column


def _counter() -> Mapped[int]:
    return mapped_column(Integer, nullable=False, server_default=text("0"))


class DailyStats(Base):
    __tablename__ = "daily_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    date: Mapped[date] = mapped_column(Date, nullable=False, unique=True)
    # State at the end of the UTC day (for today: as of the latest run).
    status_open: Mapped[int] = _counter()
    status_triaged: Mapped[int] = _counter()
    status_in_progress: Mapped[int] = _counter()
    status_done: Mapped[int] = _counter()
    severity_low: Mapped[int] = _counter()
    severity_medium: Mapped[int] = _counter()
    severity_high: Mapped[int] = _counter()
    severity_critical: Mapped[int] = _counter()
    total_issues: Mapped[int] = _counter()
    # Issues not DONE (OPEN, TRIAGED or IN_PROGRESS) by severity, at the end of the day.
    unresolved_low: Mapped[int] = _counter()
    unresolved_medium: Mapped[int] = _counter()
    unresolved_high: Mapped[int] = _counter()
    unresolved_critical: Mapped[int] = _counter()
    # Activity during the day.
    created_count: Mapped[int] = _counter()
    resolved_count: Mapped[int] = _counter()
    mean_hours_to_done: Mapped[float | None] = mapped_column(Float)
    # Insights once work is assigned (end of the day; open = not DONE): open issues per assignee
    # ({user id: n}, only n > 0), unassigned open issues, and the median hours from creation to
    # the first staff comment on someone else's issue, over the issues first answered that day.
    open_by_assignee: Mapped[dict[str, int]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # NULL: never computed (a row written before this column existed).
    unassigned_open: Mapped[int | None] = mapped_column(Integer)
    median_hours_to_first_response: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
    created_at: Mapped[datetime] = created_at_column()
