"""Errors of the appointment service, each with the HTTP status and code the API answers with."""

from __future__ import annotations

from docbox_cloud.errors import CloudError


class AppointmentError(CloudError):
    """Root of the appointment service's errors.

    Attributes:
        status: HTTP status the API answers with.
        code: Stable machine-readable code (also the key of the page's translated message).
        retry_after_s: Seconds after which trying again may succeed (429), if known.
    """

    status = 400
    code = "appointment_error"

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidRequestError(AppointmentError):
    """The request is well-formed but its content is not acceptable (e.g. a date outside the window)."""

    status = 422
    code = "invalid_request"


class NotFoundError(AppointmentError):
    """An unknown office, slot, booking or token."""

    status = 404
    code = "not_found"


class SlotTakenError(AppointmentError):
    """Another booking holds the slot (the database's unique index decided)."""

    status = 409
    code = "slot_taken"


class SlotUnavailableError(AppointmentError):
    """The slot is in the past, withdrawn, held back after a cancellation, or of another kind."""

    status = 409
    code = "slot_unavailable"


class PersonHasBookingError(AppointmentError):
    """The person already has a live emergency booking or triage request."""

    status = 409
    code = "person_has_booking"


class BookingStateError(AppointmentError):
    """The booking is not in a state that allows the operation (e.g. confirming an expired hold)."""

    status = 409
    code = "booking_state"


class HoldExpiredError(BookingStateError):
    """The hold ran out before the confirmation."""

    code = "hold_expired"


class RestrictedModeError(AppointmentError):
    """The office accepts emergency bookings only; the message says what to do instead."""

    status = 403
    code = "restricted_mode"


class TriageModeError(AppointmentError):
    """The office hands out emergency slots by triage: no direct booking, no public slot list."""

    status = 403
    code = "triage_mode"


class WrongCodeError(AppointmentError):
    """A wrong confirmation code or token."""

    status = 403
    code = "wrong_code"


class IdempotencyKeyReusedError(AppointmentError):
    """An ``Idempotency-Key`` reused with a different request body."""

    status = 422
    code = "idempotency_key_reused"


class ProofOfWorkError(AppointmentError):
    """A missing, wrong, expired or already used proof-of-work solution."""

    status = 403
    code = "proof_of_work"


class RateLimitedError(AppointmentError):
    """Too many requests from this address or for this person; see ``retry_after_s``."""

    status = 429
    code = "rate_limited"
