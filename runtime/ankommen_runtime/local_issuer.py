"""A local OIDC token issuer for tests, ``make demo`` and development.

It plays the part of the city's identity provider: an EC P-256 signing key kept in the
state folder (mode 0600), its public half published as a JWKS file the services read
(``ANKOMMEN_OIDC_JWKS_URL=file://…``), and tokens minted with the same claims a Keycloak
client-role mapper would produce. Nothing about it weakens the services' checks: they
verify these tokens exactly as they verify the production issuer's.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .auth import Role

LOCAL_ISSUER = "urn:ankommen:local-issuer"
DEFAULT_TTL_SECONDS = 8 * 3600


def default_state_dir() -> Path:
    """``ANKOMMEN_STATE_DIR``, else ``.state`` in the working directory."""
    return Path(os.environ.get("ANKOMMEN_STATE_DIR") or ".state").resolve()


def audience_of(service: str) -> str:
    """Each service accepts only tokens issued for it."""
    return f"ankommen-{service}"


class LocalIssuer:
    """Signing key and JWKS in ``<state>/oidc/``; created on first use."""

    def __init__(self, state_dir: Path | None = None, issuer: str = LOCAL_ISSUER) -> None:
        self.folder = (state_dir or default_state_dir()) / "oidc"
        self.issuer = issuer
        self.key_file = self.folder / "signing-key.pem"
        self.jwks_file = self.folder / "jwks.json"

    @property
    def jwks_url(self) -> str:
        return self.jwks_file.as_uri()

    def ensure(self) -> LocalIssuer:
        """Create the key pair and the JWKS if missing (idempotent)."""
        if self.key_file.exists() and self.jwks_file.exists():
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self._write_key(ec.generate_private_key(ec.SECP256R1()))
        return self

    def rotate(self) -> str:
        """A new signing key; the old public key stays in the JWKS so live tokens still
        verify until they expire. Returns the new key id."""
        old = json.loads(self.jwks_file.read_text())["keys"] if self.jwks_file.exists() else []
        return self._write_key(ec.generate_private_key(ec.SECP256R1()), keep=old[:1])

    def _write_key(self, key: ec.EllipticCurvePrivateKey, keep: list[dict] | None = None) -> str:
        kid = uuid.uuid4().hex[:16]
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(
            self.key_file.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.replace(self.key_file.with_suffix(".tmp"), self.key_file)
        (self.folder / "kid").write_text(kid)
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        public.update(kid=kid, alg="ES256", use="sig")
        self.jwks_file.write_text(json.dumps({"keys": [public, *(keep or [])]}, indent=2))
        return kid

    def mint(
        self,
        roles: Iterable[Role | str],
        *,
        audience: str | Iterable[str],
        subject: str | None = None,
        district: int | None = None,
        sites: Iterable[uuid.UUID | str] = (),
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        now: float | None = None,
    ) -> str:
        """A signed access token with the given roles and claims."""
        self.ensure()
        issued = int(now if now is not None else time.time())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": audience if isinstance(audience, str) else list(audience),
            "sub": subject or f"staff-{uuid.uuid4().hex[:12]}",
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "roles": [str(Role(r)) for r in roles],
        }
        if district is not None:
            claims["district"] = district
        if sites:
            claims["sites"] = [str(s) for s in sites]
        key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
        kid = (self.folder / "kid").read_text().strip()
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})  # type: ignore[arg-type]

    def bearer(
        self, roles: Iterable[Role | str], *, audience: str | Iterable[str], **claims: object
    ) -> dict[str, str]:
        """The ``Authorization`` header a client sends, with a freshly minted token."""
        token = self.mint(roles, audience=audience, **claims)  # type: ignore[arg-type]
        return {"authorization": f"Bearer {token}"}


# What the project's own tools (the demo, e2e and chaos runs, the benchmarks) act as: the
# city's staff who run the placement end to end, never a bypass of the checks.
LOCAL_TOOL_ROLES = (
    Role.LAND_INTAKE,
    Role.ALLOCATION_STAFF,
    Role.HOUSING_STAFF,
    Role.COUNCIL_READER,
    Role.OPERATIONS,
)
SERVICES = ("allocation", "housing", "integration", "volunteers", "reporting")


def local_tool_headers(
    services: Iterable[str] = SERVICES,
    roles: Iterable[Role] = LOCAL_TOOL_ROLES,
    issuer: LocalIssuer | None = None,
) -> dict[str, str]:
    """One token from the local issuer, for the named services' audiences."""
    audiences = [audience_of(s) for s in services]
    return (issuer or LocalIssuer()).bearer(roles, audience=audiences, subject="local-tool")
