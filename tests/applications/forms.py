"""The same application written in both input forms, shared by the parse and schema tests."""

from __future__ import annotations

import base64
import json

SECRET = b"0123456789abcdef0123456789abcdef-orders"
SECRET_B64 = base64.b64encode(SECRET).decode()
API_KEY = "f293cbb5cb0f1367ecc55b4c5b1717dad4073f77d2bde869cf8ee0162cc08f38"


def concise() -> dict:
    return {
        "id": "orders-app",
        "name": "Orders client",
        "description": "Reads orders",
        "suspended": True,
        "api_keys": [API_KEY],
        "basic_users": ["alice"],
        "ip_ranges": ["10.0.0.1-10.0.0.9", "192.168.0.0/24", "::1"],
        "hostnames": ["Client.Example.COM."],
        "claim_sets": [{"sub": "Administrator", "name": "srna"}, {"sub": "Developer", "name": "lnar"}],
        "apis": ["petstore/1.0", "orders"],
        "strategies": [{"id": "orders-hmac", "type": "JWT_HSA", "secret": SECRET_B64, "audience": "orders-api",
                        "auth_server": "oauth"}],
    }


def vendor() -> dict:
    """As the vendor's REST API answers (Swagger examples), plus microgw's ``apis`` extension."""
    return {
        "id": "orders-app",
        "name": "Orders client",
        "description": "Reads orders",
        "isSuspended": True,
        "version": "1.0",
        "owner": "Administrator",
        "contactEmails": [],
        "siteURLs": [],
        "jsOrigins": [],
        "consumingAPIs": [],
        "identifiers": [
            {"id": "i1", "name": "Username", "key": "httpBasicAuth", "value": ["alice"]},
            {"id": "i2", "name": "IP Addresses", "key": "ipAddressRange", "value": ["10.0.0.1-10.0.0.9", "192.168.0.0/24"]},
            {"id": "i3", "name": "IPv6", "key": "ipAddressRange", "value": ["::1"]},
            {"id": "i4", "name": "Hostname", "key": "hostNameAddress", "value": ["client.example.com"]},
            {"id": "i5", "name": "claimset1", "key": "jwtClaims", "value": [json.dumps({"sub": "Administrator", "name": "srna"})]},
            {"id": "i6", "name": "claimset2", "key": "jwtClaims", "value": [{"sub": "Developer"}, '{"name": "lnar"}']},
        ],
        "authStrategyIds": ["orders-hmac"],
        "accessTokens": {
            "apiAccessKey_credentials": {"apiAccessKey": API_KEY, "expirationInterval": None, "expirationDate": None, "expired": False},
            "oauth_credentials": {"clientID": None, "clientSecret": None, "redirect_uris": [], "Type": "confidential"},
        },
        "apis": ["petstore/1.0", "orders"],
    }


def vendor_strategies() -> list[dict]:
    """``GET /rest/apigateway/strategies``: the HMAC one with the vendor's GatewaySecret wrapper."""
    return [
        {"id": "orders-hmac", "name": "JWTStrategy", "type": "JWT_HSA", "authServerAlias": "oauth",
         "audience": "orders-api", "secret": {"secret": SECRET_B64}},
        {"id": "rsa", "name": "RSA", "type": "JWT_RSA", "authServerAlias": "local", "audience": "x"},
    ]
