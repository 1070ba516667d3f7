"""Keys: key and trust stores, JWKS sources (local, remote with their caches), the signing keyring,
password hashing and TLS contexts. Knows no requests; builds on ``jose`` and ``config`` only."""
