"""Exceptions of docbox provisioning: one root; the message says what to do."""


class ProvisioningError(Exception):
    """Root of every error of docbox_provisioning; its message is safe to print."""


class NotInitialisedError(ProvisioningError):
    """The folder holds no docbox PKI (run ``docbox provision init`` first)."""


class UnknownBoxError(ProvisioningError):
    """No bundle was issued for this box id."""
