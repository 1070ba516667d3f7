"""tokens.verify: every algorithm family, wrong keys, tampering and the known attacks."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwtkit import (
    assemble, b64url, claims, ec_key, ed448_key, mint, mint_jwcrypto, private_key_for, public_of, raw_sign, rsa_key,
    segment, signed,
)

from microgw.errors import TokenError
from microgw.jose.algorithms import HMAC_ALGS
from microgw.keys.model import VerifyKey, algorithms_for
from microgw.tokens import verify
from microgw.tokens.verify import SUPPORTED_ALGS, parse, verify_signature

ALL_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA"]


def vkey(key, algs=None, kid=None) -> VerifyKey:
    public = public_of(key)
    return VerifyKey(kid, public, frozenset(algs) if algs else algorithms_for(public), "test")


def refused(token, key=None, **kw) -> str:
    """The description of the TokenError raised by parse (+ verify when a key is given)."""
    with pytest.raises(TokenError) as info:
        parsed = parse(token, **kw)
        if key is not None:
            verify_signature(parsed, key)
    assert info.value.status == 401 and info.value.bearer_error == "invalid_token"
    return info.value.message


def test_supported_algorithms_are_exactly_the_documented_ones():
    assert SUPPORTED_ALGS == frozenset(ALL_ALGS)


# --- every algorithm verifies, minted by two independent libraries --------------------------------


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_pyjwt_token_verifies(alg, json_engine):
    token = mint(alg, claims(scope="read"), kid="k-" + alg)
    parsed = parse(token)
    verify_signature(parsed, vkey(private_key_for(alg)))
    assert parsed.alg == alg and parsed.kid == "k-" + alg
    assert parsed.claims["scope"] == "read" and parsed.header["alg"] == alg


@pytest.mark.parametrize("alg", ["RS256", "PS384", "ES256", "ES512", "EdDSA", "HS512"])
def test_jwcrypto_token_verifies(alg):
    token = mint_jwcrypto(alg, claims(sub="jwcrypto-user"), private_key_for(alg))
    parsed = parse(token)
    verify_signature(parsed, vkey(private_key_for(alg)))
    assert parsed.alg == alg and parsed.claims["sub"] == "jwcrypto-user"
    assert refused(token, vkey(private_key_for(alg, name="other"))) == "invalid signature"


def test_ed448_is_eddsa_too():
    token = mint("EdDSA", key=ed448_key())
    parsed = parse(token)
    verify_signature(parsed, vkey(ed448_key()))
    assert parsed.alg == "EdDSA"
    assert refused(token, vkey(ed448_key("other"))) == "invalid signature"


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_wrong_key_of_the_right_type_is_refused(alg):
    token = mint(alg)
    assert refused(token, vkey(private_key_for(alg, name="other"))) == "invalid signature"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "HS256", "EdDSA"])
def test_tampered_payload_or_header_is_refused(alg):
    token = mint(alg, claims(sub="alice"))
    head, _, sig = token.split(".")
    forged = f"{head}.{segment(claims(sub='admin'))}.{sig}"
    assert refused(forged, vkey(private_key_for(alg))) == "invalid signature"
    other_head = segment({"alg": alg, "kid": "k2"})
    assert refused(f"{other_head}.{token.split('.')[1]}.{sig}", vkey(private_key_for(alg))) == "invalid signature"


def test_pss_with_a_salt_longer_than_the_hash_is_refused():
    """RFC 7518 §3.5 fixes the salt to the hash length; other salts are not RFC tokens."""
    key = rsa_key()
    head = f"{segment({'alg': 'PS256'})}.{segment(claims())}"
    sig = key.sign(head.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=64), hashes.SHA256())
    assert refused(f"{head}.{b64url(sig)}", vkey(key)) == "invalid signature"


# --- algorithm pinning and confusion -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"anything"])
def test_alg_none_in_any_case_with_or_without_signature(alg, signature):
    token = assemble({"alg": alg, "typ": "JWT"}, claims(), signature)
    assert refused(token) == "unsigned tokens are not accepted"


def test_hs256_signed_with_the_rsa_public_key_pem_is_refused():
    """CVE-2016-10555: the attacker uses the public PEM as HMAC secret."""
    public = rsa_key().public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = signed({"alg": "HS256", "kid": "k1"}, claims(), pem)
    assert refused(token, vkey(rsa_key())) == "algorithm not allowed for this key"
    # Even a key object wrongly labelled with HS algs is never used as an HMAC secret.
    mislabelled = VerifyKey("k1", public, frozenset({"HS256"}), "bad")
    assert refused(token, mislabelled) == "key does not fit the algorithm"


@pytest.mark.parametrize(
    "alg, key, wrong",
    [("RS256", "ec", "ES256"), ("ES256", "rsa", "RS256"), ("EdDSA", "rsa", "RS256"), ("ES256", "hmac", "HS256")],
)
def test_every_verifier_checks_the_key_type(alg, key, wrong):
    public = {"ec": ec_key().public_key(), "rsa": rsa_key().public_key(), "hmac": b"x" * 32}[key]
    token = mint(alg)
    assert refused(token, VerifyKey(None, public, frozenset({alg}), "mislabelled")) == "key does not fit the algorithm"


def test_es384_token_against_a_p256_key_is_refused():
    token = mint("ES384")
    assert refused(token, vkey(ec_key("P-256"))) == "algorithm not allowed for this key"


def test_algs_of_a_key_restrict_verification():
    token = mint("RS384")
    assert refused(token, vkey(rsa_key(), algs={"RS256"})) == "algorithm not allowed for this key"


# --- headers that are never trusted -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("jwk", {"kty": "oct", "k": "c2VjcmV0"}),
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIB..."]),
    ],
)
def test_embedded_key_headers_are_refused(name, value):
    token = mint("RS256", headers={name: value})
    assert "keys embedded in the token" in refused(token)


def test_crit_header_is_refused():
    token = mint("RS256", headers={"crit": ["exp"], "exp": 1})
    assert refused(token) == "critical header extensions are not supported"
    assert refused(signed({"alg": "HS256", "crit": []}, claims(), b"k" * 32)) == "critical header extensions are not supported"


@pytest.mark.parametrize(
    "header, message",
    [
        ({"typ": "JWT"}, "token has no valid alg"),
        ({"alg": None}, "token has no valid alg"),
        ({"alg": 256}, "token has no valid alg"),
        ({"alg": ["RS256"]}, "token has no valid alg"),
        ({"alg": "ES256K"}, "unsupported algorithm"),
        ({"alg": "RS1"}, "unsupported algorithm"),
        ({"alg": "rs256"}, "unsupported algorithm"),
        ({"alg": "RS256", "kid": 7}, "token kid is not a string"),
    ],
)
def test_bad_alg_and_kid_headers(header, message):
    assert refused(assemble(header, claims(), b"sig")) == message


# --- structure and encoding ---------------------------------------------------------------------------


def test_jwe_five_segments_is_refused_by_name():
    assert refused("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn") == "encrypted tokens (JWE) are not accepted"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e.f", "..."])
def test_segment_count_other_than_three_is_refused(token):
    assert refused(token) == "malformed token"


def test_three_empty_segments_are_refused():
    assert refused("..") == "token header is not valid JSON"


def test_empty_signature_is_refused():
    token = mint("RS256")
    head = token.rsplit(".", 1)[0]
    assert refused(head + ".") == "token has no signature"


@pytest.mark.parametrize("where", [0, 1, 2])
@pytest.mark.parametrize("damage", ["pad", "plus", "slash", "space", "len1", "nonascii", "star"])
def test_bad_base64url_in_any_segment(where, damage):
    parts = mint("HS256").split(".")
    part = parts[where]
    part = {
        "pad": part + "=" * (-len(part) % 4 or 4),
        "plus": part[:-2] + "+" + part[-1:],
        "slash": part[:-2] + "/" + part[-1:],
        "space": part[:3] + " " + part[3:],
        "len1": part + "A" * ((1 - len(part)) % 4),
        "nonascii": part[:-1] + "é",
        "star": "*" + part[1:],
    }[damage]
    parts[where] = part
    assert refused(".".join(parts)) in {"malformed token", "token header is not valid JSON", "token claims are not valid JSON"}


def test_padded_header_is_refused_even_when_the_rest_is_fine():
    header = segment({"alg": "HS256"})
    token = signed({"alg": "HS256"}, claims(), b"k" * 32)
    padded = header + "=" * (-len(header) % 4 or 4)
    assert refused(padded + token[len(header):]) == "malformed token"


@pytest.mark.parametrize(
    "payload, message",
    [
        ([1, 2], "token claims are not a JSON object"),
        (b'"text"', "token claims are not a JSON object"),
        (42, "token claims are not a JSON object"),
        (None, "token claims are not a JSON object"),
        (b"{not json", "token claims are not valid JSON"),
        (b"\xff\xfe{}", "token claims are not valid JSON"),
        (b'{"exp": NaN}', "token claims are not valid JSON"),
        (b'{"exp": Infinity}', "token claims are not valid JSON"),
        (b'{"exp": 1e400}', "token claims are not valid JSON"),
        (b'{"sub": "\\ud800"}', "token claims are not valid JSON"),
        (b'{"sub": "\xed\xa0\x80"}', "token claims are not valid JSON"),
        (b"\xef\xbb\xbf{}", "token claims are not valid JSON"),
        pytest.param(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", "token claims are nested too deeply", id="nested-5000"),
        pytest.param(b'{"a":' + b"[" * 32 + b"]" * 32 + b"}", "token claims are nested too deeply", id="nested-33"),
        (b"", "token claims are not valid JSON"),
    ],
)
def test_payload_must_be_a_strict_json_object(payload, message, json_engine):
    token = assemble({"alg": "HS256"}, payload, b"sig")
    assert refused(token, max_length=100_000) == message


@pytest.mark.parametrize(
    "header, message",
    [
        (["alg", "HS256"], "token header is not a JSON object"),
        (b'"HS256"', "token header is not a JSON object"),
        pytest.param(b'{"alg":"HS256","x":' + b"[" * 40 + b"]" * 40 + b"}", "token header is nested too deeply", id="nested"),
        (b"{", "token header is not valid JSON"),
        (b'{"alg":"HS256","x":NaN}', "token header is not valid JSON"),
    ],
)
def test_header_must_be_a_json_object(header, message, json_engine):
    assert refused(assemble(header, claims(), b"sig")) == message


def test_nesting_up_to_the_limit_is_fine(json_engine):
    payload = b'{"a":' + b"[" * 31 + b"]" * 31 + b', "b": [1, [2], {"c": [3]}]}'
    assert parse(assemble({"alg": "HS256"}, payload, b"sig")).claims["b"] == [1, [2], {"c": [3]}]


def test_surrogate_pairs_and_unicode_are_fine(json_engine):
    payload = b'{"iss":"x","name":"\\ud83d\\ude00 caf\xc3\xa9"}'
    parsed = parse(assemble({"alg": "HS256"}, payload, b"sig"))
    assert parsed.claims["name"] == "\U0001f600 café"


def test_duplicate_claims_keep_the_last_value(json_engine):
    """Documented choice (RFC 7519 §4 allows it): last one wins, signature still covers the bytes."""
    parsed = parse(assemble({"alg": "HS256"}, b'{"sub":"a","sub":"b"}', b"sig"))
    assert parsed.claims["sub"] == "b"


def test_oversize_token_is_refused_before_any_decoding():
    token = mint("HS256", claims(blob="x" * 9000))
    assert refused(token) == "token too large"
    assert parse(token, max_length=20_000).claims["blob"] == "x" * 9000
    assert refused(mint("HS256"), max_length=50) == "token too large"


@pytest.mark.parametrize("value", [None, b"a.b.c", 12, ["a", "b", "c"]])
def test_non_string_input_is_refused(value):
    assert refused(value) == "malformed token"


# --- ECDSA signatures -------------------------------------------------------------------------------


ORDERS = {"ES256": (verify._P256_N, ec.SECP256R1(), 32), "ES384": (verify._P384_N, ec.SECP384R1(), 48), "ES512": (verify._P521_N, ec.SECP521R1(), 66)}


@pytest.mark.parametrize("alg", sorted(ORDERS))
def test_curve_orders_are_right(alg):
    n, curve, _ = ORDERS[alg]
    ec.derive_private_key(n - 1, curve)
    with pytest.raises(ValueError):
        ec.derive_private_key(n, curve)


@pytest.mark.parametrize("alg", sorted(ORDERS))
def test_psychic_signatures_are_refused(alg):
    """CVE-2022-21449: r = s = 0, and r or s equal to (or above) the curve order."""
    n, _, size = ORDERS[alg]
    key = vkey(private_key_for(alg))
    head = f"{segment({'alg': alg})}.{segment(claims())}"
    good = raw_sign(alg, private_key_for(alg), head.encode())
    r, s = good[:size], good[size:]
    for sig in (
        bytes(2 * size),
        bytes(size) + s,
        r + bytes(size),
        n.to_bytes(size, "big") + s,
        r + n.to_bytes(size, "big"),
        r + (n + int.from_bytes(s, "big")).to_bytes(size + 1, "big")[-size:],
        b"\xff" * (2 * size),
    ):
        assert refused(f"{head}.{b64url(sig)}", key) == "invalid signature"
    verify_signature(parse(f"{head}.{b64url(good)}"), key)


@pytest.mark.parametrize("alg", sorted(ORDERS))
def test_der_and_wrong_length_ecdsa_signatures_are_refused(alg):
    n, _, size = ORDERS[alg]
    key = vkey(private_key_for(alg))
    head = f"{segment({'alg': alg})}.{segment(claims())}"
    good = raw_sign(alg, private_key_for(alg), head.encode())
    der = encode_dss_signature(int.from_bytes(good[:size], "big"), int.from_bytes(good[size:], "big"))
    for sig in (der, good[:-1], good + b"\x00", b"\x00" + good, good[: size]):
        assert refused(f"{head}.{b64url(sig)}", key) == "invalid signature"


# --- misc -------------------------------------------------------------------------------------------


def test_header_is_shared_read_only():
    a, b = parse(mint("HS256", kid="same")), parse(mint("HS256", claims(sub="other"), kid="same"))
    assert a.header is b.header
    with pytest.raises(TypeError):
        a.header["alg"] = "none"  # type: ignore[index]
    assert dict(a.header) == {"alg": "HS256", "typ": "JWT", "kid": "same"}


def test_signing_input_and_signature_are_exact():
    token = mint("HS256")
    parsed = parse(token)
    head, _, sig = token.rpartition(".")
    assert parsed.signing_input == head.encode()
    assert b64url(parsed.signature) == sig


def test_hmac_keys_only_get_hmac_algs():
    assert algorithms_for(b"secret") == HMAC_ALGS
    assert json.loads(b'{"a":1}') == {"a": 1}  # sanity for the stdlib engine below
