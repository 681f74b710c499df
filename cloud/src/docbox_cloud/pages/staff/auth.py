"""Sign-in of the staff console, behind one dependency (:func:`require_staff`).

For now staff sign in with the API token; the cookie holds ``HMAC-SHA256(api_token,
"docbox-staff-session")``, never the token itself, and is HttpOnly and SameSite=Strict (which is
also the console's CSRF defence: the browser never sends it on cross-site requests). The
planned role system replaces :func:`require_staff` and :func:`session_value` alone.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from docbox_cloud.errors import AuthenticationError
from docbox_cloud.settings import CloudSettings

COOKIE = "docbox_staff"


class StaffSignInRequired(AuthenticationError):
    """No valid staff session: pages redirect to the sign-in form, the JSON endpoints answer 401."""


def session_value(settings: CloudSettings) -> str:
    """The cookie value of a signed-in staff session."""
    key = settings.api_token.get_secret_value().encode()
    return hmac.new(key, b"docbox-staff-session", hashlib.sha256).hexdigest()


def token_matches(settings: CloudSettings, token: str) -> bool:
    """Constant-time check of a token typed into the sign-in form."""
    return hmac.compare_digest(token.encode(), settings.api_token.get_secret_value().encode())


async def require_staff(request: Request) -> str:
    """Return the signed-in staff actor name, or raise :class:`StaffSignInRequired`."""
    settings: CloudSettings = request.app.state.settings
    given = request.cookies.get(COOKIE, "")
    if not hmac.compare_digest(given.encode(), session_value(settings).encode()):
        raise StaffSignInRequired("staff sign-in required")
    return "staff:console"
