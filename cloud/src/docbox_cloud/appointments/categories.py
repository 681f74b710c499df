"""The four emergency categories: the data each asks for, the evidence to bring, the deadline.

The deadline is the date by which the applicant needs the appointment; triage ranks by it
(earliest first). See docs/appointments.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from docbox_cloud.appointments.config import AppointmentSettings
from docbox_cloud.appointments.errors import InvalidRequestError

CategoryName = Literal["permit_expiring", "job_at_risk", "urgent_travel", "document_lost"]
CATEGORIES: tuple[CategoryName, ...] = ("permit_expiring", "job_at_risk", "urgent_travel", "document_lost")

#: Evidence the applicant declares they will bring, per category (keys of the translations).
EVIDENCE: dict[CategoryName, tuple[str, ...]] = {
    "permit_expiring": ("passport", "residence_permit"),
    "job_at_risk": ("passport", "employer_letter"),
    "urgent_travel": ("passport", "travel_booking", "travel_reason"),
    "document_lost": ("identity_document", "loss_report", "biometric_photo"),
}


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: list[str] = Field(
        description="Evidence the applicant declares they will bring; must list every item of the category"
    )


class PermitExpiring(_Case):
    """The residence permit has expired or expires within the office's window."""

    category: Literal["permit_expiring"] = "permit_expiring"
    permit_expires_on: date = Field(description="Expiry date printed on the residence permit")


class JobAtRisk(_Case):
    """The applicant can show that they may lose their job without a document by a date."""

    category: Literal["job_at_risk"] = "job_at_risk"
    job_deadline: date = Field(description="Date by which the employer needs the document")


class UrgentTravel(_Case):
    """An urgent journey abroad (e.g. a relative's death or illness)."""

    category: Literal["urgent_travel"] = "urgent_travel"
    travel_date: date = Field(description="Date of departure")


class DocumentLost(_Case):
    """The residence document was lost or stolen."""

    category: Literal["document_lost"] = "document_lost"
    lost_on: date = Field(description="Date of the loss (as in the police report)")


EmergencyCase = Annotated[
    PermitExpiring | JobAtRisk | UrgentTravel | DocumentLost, Field(discriminator="category")
]


def assess(
    case: PermitExpiring | JobAtRisk | UrgentTravel | DocumentLost, today: date, settings: AppointmentSettings
) -> date:
    """Check that ``case`` qualifies as an emergency today and return its deadline.

    Raises:
        InvalidRequestError: naming the field and the rule it breaks.
    """
    missing = [item for item in EVIDENCE[case.category] if item not in case.evidence]
    unknown = [item for item in case.evidence if item not in EVIDENCE[case.category]]
    if missing:
        raise InvalidRequestError(f"evidence: declare that you will bring {', '.join(missing)}")
    if unknown:
        raise InvalidRequestError(f"evidence: unknown item(s) {', '.join(unknown)} for {case.category}")
    match case:
        case PermitExpiring(permit_expires_on=expires):
            if expires > today + timedelta(days=settings.permit_window_days):
                raise InvalidRequestError(
                    f"permit_expires_on: the permit must have expired or expire within "
                    f"{settings.permit_window_days} days to count as an emergency"
                )
            return expires
        case JobAtRisk(job_deadline=deadline):
            _within("job_deadline", deadline, today, settings.job_window_days)
            return deadline
        case UrgentTravel(travel_date=travel):
            _within("travel_date", travel, today, settings.travel_window_days)
            return travel
        case DocumentLost(lost_on=lost_on):
            if lost_on > today:
                raise InvalidRequestError("lost_on: the date of the loss cannot be in the future")
            return today + timedelta(days=settings.lost_document_deadline_days)
    raise InvalidRequestError(f"unknown category {case.category!r}")  # pragma: no cover - exhaustive


def _within(field: str, value: date, today: date, window_days: int) -> None:
    if value < today:
        raise InvalidRequestError(f"{field}: the date is in the past")
    if value > today + timedelta(days=window_days):
        raise InvalidRequestError(f"{field}: must be within {window_days} days to count as an emergency")
