"""Clients for the DRF API tests."""

from __future__ import annotations

from rest_framework.test import APIClient


def api_client(user=None) -> APIClient:
    """An API client signed in as `user` (force_authenticate); None: anonymous."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
