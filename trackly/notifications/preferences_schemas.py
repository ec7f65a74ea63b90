"""Request and response bodies of notification settings (a user's own, and the organisation's
default per role)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from trackly import examples as ex
from trackly.models import Role
from trackly.notifications.reasons import Reason
from trackly.schemas import RequestModel, Schema

EmailMode = Literal["off", "instant", "daily"]

_EXAMPLE = {
    "email": "instant",
    "reasons": ["commented", "status_changed"],
    "time_zone": "Europe/Amsterdam",
    "digest_hour": 8,
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHours(RequestModel):
    model_config = ex.examples({"start": "22:00", "end": "07:00"}, forbid_extra=True)

    start: str = Field(pattern=HHMM, description="Local time (HH:MM) from which no instant email is sent.")
    end: str = Field(
        pattern=HHMM, description="Local time (HH:MM) at which held emails go out; may be past midnight."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    @property
    def window(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)

    @classmethod
    def of(cls, start: time, end: time) -> QuietHours:
        return cls(start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))


class PreferencesIn(RequestModel):
    model_config = ex.examples(_EXAMPLE, forbid_extra=True)

    email: EmailMode = Field(
        description="`off`, `instant` (one email per notification) or `daily` (a digest)."
    )
    reasons: list[Reason] = Field(
        max_length=len(Reason), description="Which reasons send email (see `GET /notifications`)."
    )
    time_zone: str = Field(
        min_length=1, max_length=64, description="IANA time zone for the digest hour and quiet hours."
    )
    digest_hour: int = Field(ge=0, le=23, description="Local hour at which the daily digest goes out.")
    quiet_hours: QuietHours | None = Field(
        default=None, description="Instant emails falling in this local window wait until it ends."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known IANA time zone (e.g. Europe/Amsterdam, UTC)") from None
        return value

    @field_validator("reasons")
    @classmethod
    def _unique(cls, value: list[Reason]) -> list[Reason]:
        if Reason.NOTICE in value:
            raise ValueError("`notice` is not emailed: server notices are shown in the app only")
        return list(dict.fromkeys(value))


class PreferencesOut(Schema):
    model_config = ex.examples({**_EXAMPLE, "source": "user", "email_refused_at": None})

    email: EmailMode
    reasons: list[Reason]
    time_zone: str
    digest_hour: int
    quiet_hours: QuietHours | None
    source: Literal["user", "organisation", "built_in"] = Field(
        description="Where these values come from: your own choice, the organisation's default for "
        "your role, or the built-in default for your role."
    )
    email_refused_at: datetime | None = Field(
        default=None,
        description="When the mail server refused your address for good (email was switched off).",
    )


class DefaultOut(Schema):
    model_config = ex.examples({**_EXAMPLE, "role": "REPORTER", "source": "organisation"})

    role: Role
    email: EmailMode
    reasons: list[Reason]
    time_zone: str
    digest_hour: int
    quiet_hours: QuietHours | None
    source: Literal["organisation", "built_in"]


class RolePath(RequestModel):
    role: Role
