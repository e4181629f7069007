"""Production auth: RS256 tokens verified against a JWKS URL (served locally)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from servicekit.auth import Role, TokenVerifier
from servicekit.errors import Unauthorized

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk.update(kid="key-1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def rs256(key: rsa.RSAPrivateKey, **claims: object) -> str:
    payload = {
        "sub": "svc-1",
        "exp": int(time.time()) + 60,
        "iss": "https://idp.example",
        "aud": "supportops",
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "key-1"})


def verifier(url: str) -> TokenVerifier:
    return TokenVerifier(
        secret=None, jwks_url=url, issuer="https://idp.example", audience="supportops"
    )


async def test_a_token_signed_by_the_idp_is_accepted(jwks_url: str) -> None:
    principal = await verifier(jwks_url).verify(
        rs256(KEY, roles=["billing", "unknown-role"], tenant_id="t-1")
    )
    assert principal.subject == "svc-1"
    assert principal.roles == frozenset({Role.billing})
    assert principal.tenant_id == "t-1"


async def test_another_key_wrong_audience_or_an_hs256_token_is_refused(jwks_url: str) -> None:
    check = verifier(jwks_url)
    with pytest.raises(Unauthorized):
        await check.verify(rs256(OTHER_KEY))
    with pytest.raises(Unauthorized):
        await check.verify(rs256(KEY, aud="someone-else"))
    hs = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "a" * 32, algorithm="HS256")
    with pytest.raises(Unauthorized):
        await check.verify(hs)
