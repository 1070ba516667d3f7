"""tokens/issuer.py: the vendor's tokenGeneratorConfig turned into issuer settings."""

from __future__ import annotations

import pytest

from microgw.keys.signing import SigningKey, SigningKeyring
from microgw.config.security import settings_from_token_generator_config as settings
from microgw.tokens.issuer import TokenIssuer


def test_sample_from_the_vendor():
    assert settings({"expiry": 60, "algorithm": "RS256", "audience": "my-audience"}) == {
        "alg": "RS256",
        "expiry_seconds": 3600,
        "audience": "my-audience",
    }


def test_access_token_interval_wins_over_expiry():
    assert settings({"expiry": 60, "accessTokenExpInterval": 600})["expiry_seconds"] == 600
    assert settings({"expiry": 5, "accessTokenExpInterval": 0})["expiry_seconds"] == 300
    assert settings({"expiry": "2"})["expiry_seconds"] == 120


def test_defaults():
    assert settings(None) == {"alg": "RS256", "expiry_seconds": 3600, "audience": None}
    assert settings({"audience": ""})["audience"] is None
    assert settings({"algorithm": "RS512", "audience": ["a", "b"]})["audience"] == ["a", "b"]


@pytest.mark.parametrize(
    "config",
    [
        {"algorithm": "HS256"},
        {"algorithm": "RSA"},
        {"expiry": -1},
        {"expiry": True},
        {"expiry": "soon"},
        {"accessTokenExpInterval": 1.5},
        {"audience": 5},
    ],
)
def test_invalid_values(config):
    with pytest.raises(ValueError):
        settings(config)


def test_settings_build_an_issuer(rsa_key):
    ring = SigningKeyring([SigningKey.from_private_key(rsa_key, "RS384")])
    issuer = TokenIssuer("iss", lambda: ring, **settings({"algorithm": "RS384", "expiry": 1, "audience": "x"}))
    assert issuer.expiry_seconds == 60 and issuer.audiences == ("x",) and issuer.alg == "RS384"
