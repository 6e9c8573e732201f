"""A small OpenID Connect provider for the tests, on 127.0.0.1: discovery, authorize (signs in whoever `email` says, at
once), token (authorization code with PKCE S256 and client_secret_basic or _post, an RS256 id_token) and JWKS.

It keeps the parts a relying party must check honest: the code is single-use and bound to the client, the redirect
address and the PKCE challenge; the id_token carries iss, aud, exp, iat, nonce, sub, email. `forge` signs id_tokens
with a key the JWKS does not publish; `audience` overrides the aud claim.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Provider:
    issuer: str = ""
    client_id: str = "carepath-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    email: str | None = None  # who signs in at the next authorize
    email_verified: bool = True
    forge: bool = False
    audience: str | None = None
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-1", "alg": "RS256"}))
    stranger: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-1", "alg": "RS256"}))
    codes: dict[str, dict] = field(default_factory=dict)
    token_requests: int = 0

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code" or self.email is None:
            return 400, {"error": "invalid_request"}
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {"error": "invalid_request", "error_description": "PKCE S256 is required"}
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"redirect_uri": query["redirect_uri"], "nonce": query.get("nonce"),
                            "challenge": query["code_challenge"], "email": self.email}
        return 302, {"location": f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"}

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict]:
        self.token_requests += 1
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # single use
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri") or grant["challenge"] != challenge:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience or self.client_id, "sub": hashlib.sha256(
                  grant["email"].encode()).hexdigest()[:16], "email": grant["email"],
                  "email_verified": self.email_verified, "iat": now, "exp": now + 300, "nonce": grant["nonce"]}
        key = self.stranger if self.forge else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                     "id_token": id_token}


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict) -> None:
            location = body.pop("location", None) if status == 302 else None
            data = json.dumps(body).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._answer(200, provider.discovery())
            elif url.path == "/jwks":
                self._answer(200, {"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                self._answer(*provider.authorize(query))
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {key: values[-1] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
            if urlparse(self.path).path == "/token":
                self._answer(*provider.token(form, self.headers.get("Authorization")))
            else:
                self._answer(404, {"error": "not_found"})

    return Handler


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    """The provider, served on a free port of 127.0.0.1 for as long as the block runs."""
    provider = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
