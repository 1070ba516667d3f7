"""Tokens an application signed with its own ``JWT_HSA`` secret: the one place their rule lives.

Such a token proves who the caller is and nothing else, because the application chose every claim:

* it identifies exactly its owner — never whoever its claims would match — and only when its
  ``aud`` names one of the owner's strategy audiences (:func:`applications_of_token`);
* on an API it is accepted only where that same application was identified by it
  (:func:`accepted_where_identified`); its audience was checked when it identified the owner.

The runtime names each application's secret key source with :func:`source_name`, so a verified
token says which application's secret verified it.
"""

from __future__ import annotations

from typing import Any

from microgw.context import RequestContext
from microgw.errors import GatewayError, TokenError
from microgw.tokens.claims import audience_values
from microgw.tokens.issuer import MINTED_APPLICATION, MINTED_CLAIM

_PREFIX = "application:"


def source_name(app_id: str) -> str:
    """The key source name of an application's HMAC secret."""
    return f"{_PREFIX}{app_id}"


def is_app_signed(verified: Any) -> bool:
    return (verified.key_source or "").startswith(_PREFIX)


def owner(verified: Any, apps: Any):
    """The application whose secret verified this token, or None for a token of any other key."""
    if not is_app_signed(verified):
        return None
    found = apps.by_id(verified.key_source[len(_PREFIX):]) if apps is not None else None
    if found is None:
        raise TokenError("the application that owns this key is unknown")
    accepted = frozenset().union(*(strategy.audiences for strategy in found.strategies))
    if not any(value in accepted for value in audience_values(verified.claims)):
        raise GatewayError(403, "audience_not_allowed", "A token signed with an application's secret must name one of its strategy audiences")
    return found


def applications_of_token(verified: Any, apps: Any) -> tuple:
    """What a validated token identifies: the secret's owner, else the applications its claims match.

    An application token this gateway minted (``microgw_token: application``) carries claims its
    application chose (``claimsSet``): it identifies at most the application it was minted for
    (``sub``), when its claims match that application's claim sets — never another application
    whose claim sets the chosen claims were written to match."""
    found = owner(verified, apps)
    if found is not None:
        return (found,)
    if apps is None:
        return ()
    matched = tuple(apps.by_claims(verified.claims))
    claims = verified.claims
    if isinstance(claims, dict) and claims.get(MINTED_CLAIM) == MINTED_APPLICATION:
        return tuple(app for app in matched if app.id == claims.get("sub"))
    return matched


def accepted_where_identified(ctx: RequestContext) -> None:
    """Refuse an application-signed token unless this request identified its owner by it."""
    app = ctx.application
    if app is None or source_name(app.id) != ctx.jwt.key_source:
        raise TokenError("a token signed with an application's secret is only accepted where applications are identified by JWT")
