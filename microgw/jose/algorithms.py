"""JWA algorithm names by key family (RFC 7518 §3.1): the pin that stops RS/HS confusion and friends."""

from __future__ import annotations

RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
EC_ALGS_BY_CURVE = {"secp256r1": frozenset({"ES256"}), "secp384r1": frozenset({"ES384"}), "secp521r1": frozenset({"ES512"})}
EDDSA_ALGS = frozenset({"EdDSA"})
