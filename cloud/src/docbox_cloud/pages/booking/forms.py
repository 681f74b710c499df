"""Reading and checking the booking page's forms (URL-encoded, parsed without extra packages)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request

from docbox_cloud.appointments.categories import CATEGORIES, EVIDENCE, CategoryName
from docbox_cloud.appointments.schemas import EMAIL_PATTERN

#: The date field each category asks for.
DATE_FIELD: dict[CategoryName, str] = {
    "permit_expiring": "permit_expires_on",
    "job_at_risk": "job_deadline",
    "urgent_travel": "travel_date",
    "document_lost": "lost_on",
}
MAX_FORM_BYTES = 16_384


async def read_form(request: Request) -> dict[str, list[str]]:
    """The URL-encoded body as lists of values (checkboxes repeat a name)."""
    body = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True)


def first(form: dict[str, list[str]], name: str) -> str:
    """The first value of ``name``, stripped ('' when absent)."""
    values = form.get(name) or [""]
    return values[0].strip()


def category_of(value: str) -> CategoryName | None:
    """``value`` if it names an emergency category."""
    return next((c for c in CATEGORIES if c == value), None)


@dataclass
class DetailsForm:
    """The details form's values and the errors found (field id → message key)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether no field has an error."""
        return not self.errors


def check_details(form: dict[str, list[str]], category: CategoryName | None) -> DetailsForm:
    """Check the details form; message keys name what is wrong, field ids say where."""
    result = DetailsForm()
    email = first(form, "email")
    result.values["email"] = email
    if not email:
        result.errors["email"] = "err_required"
    elif not re.fullmatch(EMAIL_PATTERN, email):
        result.errors["email"] = "err_email"
    if category is None:
        return result
    date_field = DATE_FIELD[category]
    raw_date = first(form, date_field)
    result.values[date_field] = raw_date
    if not raw_date:
        result.errors[date_field] = "err_required"
    else:
        try:
            result.values["date"] = date.fromisoformat(raw_date)
        except ValueError:
            result.errors[date_field] = "err_date"
    document = first(form, "document_number")
    result.values["document_number"] = document
    if not 5 <= len(document) <= 30:
        result.errors["document_number"] = "err_document_number"
    evidence = [item for item in form.get("evidence", []) if item in EVIDENCE[category]]
    result.values["evidence"] = evidence
    if set(evidence) != set(EVIDENCE[category]):
        result.errors[f"evidence-{EVIDENCE[category][0]}"] = "err_evidence"
    return result


def case_payload(category: CategoryName, checked: DetailsForm) -> dict[str, Any]:
    """The ``case`` object of the API from a checked form."""
    return {
        "category": category,
        DATE_FIELD[category]: checked.values["date"].isoformat(),
        "evidence": checked.values["evidence"],
    }
