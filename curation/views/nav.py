"""Where to send the user back to after a form post."""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme


def back_to(request, default: str) -> str:
    """The posted `next` URL when it points at this site, else `default` (no open redirects)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return default
