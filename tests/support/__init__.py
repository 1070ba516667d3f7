"""Shared helpers for the test suite: real gateway processes, real upstream servers, certificates."""

import base64


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header (aiohttp's BasicAuth is deprecated)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
