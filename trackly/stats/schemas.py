"""Statistics request and response models (the original's field names, plus the new columns)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from trackly import examples as ex
from trackly.schemas import QueryModel, RequestModel, Schema


class DailyStatsOut(Schema):
    """One UTC day: the state at the end of the day (today: as of the latest run) and its activity."""

    model_config = ex.examples(ex.DAILY_STATS, from_attributes=True)

    id: int
    date: date
    status_open: int
    status_triaged: int
    status_in_progress: int
    status_done: int
    severity_low: int
    severity_medium: int
    severity_high: int
    severity_critical: int
    total_issues: int
    created_at: datetime
    unresolved_low: int = Field(description="Issues not DONE with severity LOW at the end of the day.")
    unresolved_medium: int
    unresolved_high: int
    unresolved_critical: int
    created_count: int = Field(description="Issues created during the day.")
    resolved_count: int = Field(
        description="Transitions into DONE during the day (an issue resolved twice counts twice)."
    )
    mean_hours_to_done: float | None = Field(
        description="Mean hours from creation to those DONE transitions; null when none."
    )
    open_by_assignee: dict[str, int] = Field(
        description="Open (not DONE) issues per assignee at the end of the day: {user id: count}, counts > 0."
    )
    unassigned_open: int = Field(
        description="Open (not DONE) issues without an assignee at the end of the day."
    )
    median_hours_to_first_response: float | None = Field(
        description="Median hours from creation to the first staff comment (by someone other than the "
        "creator), over the issues first answered during the day; null when none."
    )
    computed_at: datetime


class DailyQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=366)] | SkipJsonSchema[None] = Field(
        default=None,
        description="Most recent rows to return (default 30; 366 when from/to is given).",
    )
    from_: date | SkipJsonSchema[None] = Field(
        default=None, alias="from", description="First date (inclusive)."
    )
    to: date | SkipJsonSchema[None] = Field(default=None, description="Last date (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> DailyQuery:
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        return self


class Changes(Schema):
    total_change: int | None = Field(description="today.total_issues - yesterday.total_issues")
    open_change: int | None = Field(description="today.status_open - yesterday.status_open")
    critical_change: int | None = Field(description="today.severity_critical - yesterday.severity_critical")


class SummaryOut(Schema):
    model_config = ex.examples(
        {
            "today": ex.DAILY_STATS,
            "yesterday": {
                **ex.DAILY_STATS,
                "id": 56,
                "date": "2026-11-23",
                "total_issues": 60,
                "status_open": 10,
            },
            "changes": {"total_change": 4, "open_change": 2, "critical_change": 0},
            "last_updated": "2026-11-24T23:55:00Z",
        }
    )

    today: DailyStatsOut | None
    yesterday: DailyStatsOut | None
    changes: Changes
    last_updated: datetime | None = Field(description="When any row was last computed.")


class AggregateIn(RequestModel):
    """Rebuild this range from the events (both or neither; without a body: the scheduled run)."""

    # The document states the pairing the validator below enforces.
    model_config = ex.examples(
        {"from": "2026-11-01", "to": "2026-11-24"},
        keywords={"dependentRequired": {"from": ["to"], "to": ["from"]}},
    )

    from_: date | SkipJsonSchema[None] = Field(default=None, alias="from")
    to: date | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> AggregateIn:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both 'from' and 'to', or neither")
        return self


class DayRange(Schema):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: date = Field(alias="from")
    to: date


class AggregateOut(Schema):
    model_config = ex.examples(
        {
            "mode": "rebuild",
            "acquired": True,
            "days": 24,
            "rows": 24,
            "ranges": [{"from": "2026-11-01", "to": "2026-11-24"}],
            "remaining_days": 0,
            "duration_ms": 412.7,
        },
        populate_by_name=True,
    )

    mode: str = Field(description="'scheduled' (today and missing days) or 'rebuild' (the given range).")
    acquired: bool = Field(description="False when another run held the lock and nothing was done.")
    days: int = Field(description="Days computed.")
    rows: int = Field(description="Rows inserted or updated.")
    ranges: list[DayRange]
    remaining_days: int = Field(description="Older days still missing, left for the next runs.")
    duration_ms: float


class TrendsQuery(QueryModel):
    days: int = Field(default=30, ge=1, le=366, description="Number of days ending today.")


class OpenBySeverity(Schema):
    LOW: list[int]
    MEDIUM: list[int]
    HIGH: list[int]
    CRITICAL: list[int]


class TrendsOut(Schema):
    """Chart-ready series: index i of every list belongs to `days[i]` (oldest first)."""

    model_config = ex.examples(
        {
            "days": ["2026-11-22", "2026-11-23", "2026-11-24"],
            "created": [3, 5, 4],
            "resolved": [2, 0, 3],
            "total": [55, 60, 64],
            "mean_hours_to_done": [28.0, None, 31.5],
            "open_by_severity": {
                "LOW": [8, 8, 8],
                "MEDIUM": [9, 10, 9],
                "HIGH": [4, 6, 5],
                "CRITICAL": [2, 2, 2],
            },
            "missing_days": [],
        }
    )

    days: list[date]
    created: list[int]
    resolved: list[int]
    total: list[int]
    mean_hours_to_done: list[float | None]
    open_by_severity: OpenBySeverity = Field(
        description="Issues not DONE (OPEN, TRIAGED or IN_PROGRESS) at the end of each day, by severity."
    )
    missing_days: list[date] = Field(
        description="Days in the window with no stored row yet (their values are 0 / null)."
    )
