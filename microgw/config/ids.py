"""Stable API ids: the same name and version give the same id on every gateway, forever.

The vendor names APIs by id (applications register by id, archives hold ``API.<id>``); microgw
derives one for APIs that have none, so a parent and its children agree without coordination.
"""

from __future__ import annotations

import uuid
from typing import Any

_NAMESPACE = uuid.UUID("5b0f7c9e-3d1a-5e42-9a53-6d1c0e7f2b84")  # fixed: ids must never change


def version_text(version: Any) -> str:
    """The version as the URL shows it: YAML reads ``1.0`` as a float, the user wrote ``1.0``."""
    if isinstance(version, str):
        return version
    return repr(version) if isinstance(version, float) else str(version)


def api_id(name: str, version: Any) -> str:
    """A stable, URL-safe id for an API (a UUID, like the vendor's)."""
    return str(uuid.uuid5(_NAMESPACE, f"{name}/{version_text(version)}"))
