"""A tiny OpenID Connect provider for tests (what a county's Keycloak does, and no more).

Endpoints: ``/.well-known/openid-configuration``, ``/authorize`` (no login form: it redirects
straight back with a code for the user set on the stub), ``/token`` (checks the client and
the code, returns an RS256-signed id_token with the user's claims and the request's nonce),
``/jwks`` (the public key). Run it in a thread::

    with OIDCStub(client_id="gapmap", client_secret="s3cret") as idp:
        idp.user = {"sub": "u1", "preferred_username": "wangming", "gapmap_role": "township",
                    "gapmap_townships": ["640324103"]}
        idp.metadata_url  # for secrets.toml [auth] server_metadata_url
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

__all__ = ["OIDCStub"]


class OIDCStub:
    """An OIDC provider on 127.0.0.1 (a free port) serving one configurable user."""

    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user: dict[str, Any] = {"sub": "user"}
        self.key = RSAKey.generate_key(2048, parameters={"kid": "stub-1", "use": "sig"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                stub.requests.append(url.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(stub.metadata())
                elif url.path == "/jwks":
                    self._json({"keys": [stub.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    if q.get("client_id") != stub.client_id:
                        self._json({"error": "unauthorized_client"}, 400)
                        return
                    code = secrets.token_urlsafe(16)
                    stub.codes[code] = {
                        "nonce": q.get("nonce"),
                        "redirect_uri": q["redirect_uri"],
                        "user": dict(stub.user),
                    }
                    back = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
                    self.send_response(302)
                    self.send_header("Location", back)
                    self.end_headers()
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                url = urlparse(self.path)
                stub.requests.append(url.path)
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                client_id, secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                if url.path != "/token":
                    self._json({"error": "not_found"}, 404)
                elif (client_id, secret) != (stub.client_id, stub.client_secret):
                    self._json({"error": "invalid_client"}, 401)
                elif form.get("code") not in stub.codes:
                    self._json({"error": "invalid_grant"}, 400)
                else:
                    grant = stub.codes.pop(form["code"])
                    self._json(
                        {
                            "access_token": secrets.token_urlsafe(16),
                            "token_type": "Bearer",
                            "expires_in": 300,
                            "id_token": stub.id_token(grant["user"], nonce=grant["nonce"]),
                        }
                    )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def metadata_url(self) -> str:
        """The discovery document's URL (``server_metadata_url``)."""
        return f"{self.url}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """The discovery document."""
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def id_token(self, user: dict[str, Any], *, nonce: str | None) -> str:
        """An RS256-signed id_token for ``user`` (issuer, audience, expiry, nonce set)."""
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.client_id, "iat": now, "exp": now + 300, **user}
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": "stub-1"}, claims, self.key)

    def __enter__(self) -> OIDCStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
