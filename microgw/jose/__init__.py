"""JOSE primitives (RFC 7515/7518): base64url, JWS signing, the algorithm families.

The lowest room: keys, tokens, config and applications build on it, and it imports nothing else
of microgw, so none of them has to import another just for these.
"""
