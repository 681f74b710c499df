"""Errors of the pickup domain; each carries a stable ``code`` the API and the kiosk answer with."""

from __future__ import annotations

from docbox_cloud.errors import CloudError


class PickupError(CloudError):
    """Root of the pickup errors. ``code`` is machine-readable, ``status`` the HTTP status."""

    code = "pickup_error"
    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)


class UnknownDocumentError(PickupError):
    """No document has this id, barcode or case number."""

    code = "unknown_document"
    status = 404


class DocumentExistsError(PickupError):
    """A document with this barcode is already registered."""

    code = "document_exists"


class DocumentStateError(PickupError):
    """The document is not in a state that allows this step (e.g. loading a collected one)."""

    code = "wrong_document_state"


class NoFreeCompartmentError(PickupError):
    """No free, working compartment of a fitting size (and height) is left in the box."""

    code = "no_free_compartment"


class StaffAuthError(PickupError):
    """Unknown staff account or wrong staff PIN."""

    code = "wrong_staff_pin"
    status = 403


class StaffLockedOutError(PickupError):
    """Too many wrong PINs: the staff account is locked for a while."""

    code = "locked_out"
    status = 403


class PersonalDataKeyMissingError(PickupError):
    """``pickup_data_key`` is not configured, so personal data cannot be stored or read."""

    code = "pickup_not_configured"
    status = 503


class InvalidInputError(PickupError):
    """A value that passed schema validation but is not usable (e.g. a phone number without digits)."""

    code = "invalid_input"
    status = 422
