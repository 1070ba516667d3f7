"""Tokens: JWT parsing and verification (one fast path), claim checks, the verified-token cache, the
validator that picks the auth server by ``iss``, and the issuer that mints the gateway's tokens."""
