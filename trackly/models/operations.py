"""What operators read: the last run of each timer function (GET /health/ready, alerts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base


class TimerRun(Base):
    """One row per timer, replaced by every run (the history is in the traces and logs)."""

    __tablename__ = "timer_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The exception's class name only: messages can carry data.
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
