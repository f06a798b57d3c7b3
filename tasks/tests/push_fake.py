"""A local stand-in for a browser vendor's push service, and the device keys of a subscriber.

It speaks the Web Push protocol as the real services do (the product's real pywebpush code posts
to it), and checks every request the way they do:

- RFC 8030 (Generic Event Delivery Using HTTP Push), §5: the message is a POST to the
  subscription's endpoint with a `TTL` header (required; a push service rejects a request without
  it) and an optional `Urgency` (`very-low | low | normal | high`, §5.3); the answer is
  `201 Created`; an expired or unsubscribed endpoint answers `404` or `410 Gone` (§7.3, and
  https://web.dev/articles/push-notifications-web-push-protocol "Response from push service":
  404 = not found, 410 = gone, 413 = payload too large, 429 = too many requests).
- RFC 8291 (Message Encryption for Web Push) with RFC 8188's `aes128gcm` content coding:
  `Content-Encoding: aes128gcm`; the body's header carries the sender's ephemeral P-256 key as
  key id, and only the holder of the subscription's private key and 16-byte auth secret can
  decrypt it. Here it is decrypted with `http_ece` using those device keys, so a test reads the
  payload exactly as the browser would.
- RFC 8292 (VAPID): `Authorization: vapid t=<JWT>, k=<public key>`; the JWT is ES256-signed,
  its `aud` is the push service's origin, `exp` at most 24 hours ahead, `sub` a mailto: or
  https: contact. The signature is verified against `k`, and `k` must be the key the browser
  subscribed with (the server's WEBPUSH_VAPID_PUBLIC_KEY), as the real services require.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from werkzeug import Request, Response


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class Device:
    """A subscribed browser: its P-256 key pair and auth secret (what `PushSubscription` holds)."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")
        return json.loads(plain)


def _verify_vapid(header: str, *, audience: str, expected_key: str) -> dict[str, Any]:
    """The VAPID claims of a request, after checking them as a push service does; raises ValueError."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"Authorization scheme {scheme!r}, not vapid")
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    token, key = parts["t"], parts["k"]
    if expected_key and key != expected_key:
        raise ValueError("VAPID key is not the one the subscription was made with")
    head_b64, claims_b64, sig_b64 = token.split(".")
    head = json.loads(unb64url(head_b64))
    if head.get("alg") != "ES256":
        raise ValueError(f"JWT alg {head.get('alg')!r}")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    signature = unb64url(sig_b64)
    der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("bad VAPID signature") from None
    claims = json.loads(unb64url(claims_b64))
    if claims.get("aud") != audience:
        raise ValueError(f"aud {claims.get('aud')!r} is not {audience!r}")
    if not time.time() < int(claims["exp"]) <= time.time() + 24 * 3600 + 60:
        raise ValueError("exp is not within the next 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise ValueError("sub is not a mailto: or https: contact")
    return claims


@dataclass
class Delivery:
    path: str
    payload: dict[str, Any]
    ttl: int
    urgency: str


class PushService:
    """Accepts pushes at /push/<name>; `answer[name] = status` makes that endpoint answer it."""

    def __init__(self, server: Any, *, vapid_public_key: str) -> None:
        self.server = server
        self.vapid_public_key = vapid_public_key
        self.devices: dict[str, Device] = {}
        self.deliveries: list[Delivery] = []
        self.refused: list[str] = []
        self.answer: dict[str, int] = {}
        self.redirect: dict[str, str] = {}
        server.expect_request(re.compile(r"^/push/[\w-]+$"), method="POST").respond_with_handler(self._handle)

    @property
    def origin(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def device(self, name: str) -> Device:
        return self.devices.setdefault(name, Device())

    def _handle(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[1]
        if name in self.answer:
            body = "gone" if self.answer[name] in (404, 410) else "internal detail: db01.corp timeout"
            return Response(body, status=self.answer[name])
        if name in self.redirect:
            return Response("", status=307, headers={"Location": self.redirect.pop(name)})
        try:
            if "TTL" not in request.headers:
                raise ValueError("no TTL header")
            if request.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {request.headers.get('Content-Encoding')!r}")
            _verify_vapid(
                request.headers.get("Authorization", ""), audience=self.origin, expected_key=self.vapid_public_key
            )
            payload = self.devices[name].decrypt(request.get_data())
        except (ValueError, KeyError) as exc:
            self.refused.append(f"{name}: {exc}")
            return Response(str(exc), status=400)
        urgency = request.headers.get("Urgency", "normal")
        self.deliveries.append(Delivery(request.path, payload, int(request.headers["TTL"]), urgency))
        return Response("", status=201, headers={"Location": f"{self.origin}/message/{len(self.deliveries)}"})
