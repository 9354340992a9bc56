"""Who may do what: OIDC bearer tokens and the roles every endpoint declares.

Every HTTP route of a service (except health, metrics and reporting's published outputs)
takes an :class:`Actor` from ``Depends(allow(Role.X, ...))``. The token is a JWT signed by
the city's identity provider (Keycloak or any OIDC issuer) and checked against its JWKS:
issuer, audience (one per service, ``ankommen-<service>``), expiry, asymmetric algorithms
only. There is no setting that turns the check off: tests and ``make demo`` use the local
issuer in :mod:`ankommen_runtime.local_issuer`, whose keys are files in the state folder.

Claims the city's issuer maps onto a token:
- ``sub``: the staff member's pseudonymous id (never a name); travels in the events a
  command raises as the acting staff member (``actor``).
- ``roles``: a list of :class:`Role` values (Keycloak: a client-role mapper to ``roles``).
- ``district``: the Stadtbezirk (1-13) of a district social worker.
- ``sites``: the site ids a site operator runs.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cachetools import TLRUCache
from fastapi import HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from . import audit
from .logging import get_logger

log = get_logger(__name__)

# Asymmetric only: a shared secret (HS*) would let every service mint tokens.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class Role(StrEnum):
    """The roles of the city's staff and systems (issue 15)."""

    LAND_INTAKE = "land-intake"
    """The Land's intake feed: quota periods and assignments only."""
    ALLOCATION_STAFF = "allocation-staff"
    """Zuweisung/Unterbringung staff of the Sozialamt: households, placements, waitlist."""
    YOUTH_WELFARE = "youth-welfare"
    """Jugendamt: unaccompanied minors taken into care."""
    HOUSING_STAFF = "housing-staff"
    """The city's housing department: sites, places, occupancy."""
    SITE_OPERATOR = "site-operator"
    """An operator (DRK, Johanniter, …): its own sites only, by the ``sites`` claim."""
    SOCIAL_WORKER = "social-worker"
    """Integrationsmanagement in a Stadtbezirk: its own district only, by ``district``."""
    VOLUNTEER_COORDINATOR = "volunteer-coordinator"
    """Koordinierungsstelle Flüchtlingshilfe: the volunteers service, never household data."""
    COUNCIL_READER = "council-reader"
    """Council members and statistics office: reports (unsuppressed internal views)."""
    PUBLIC_READER = "public-reader"
    """A reader of published reports through the API: small counts suppressed."""
    OPERATIONS = "operations"
    """Operations: health, metrics, dead letters, rebuilds."""


@dataclass(frozen=True)
class Actor:
    """The verified caller of one request."""

    subject: str
    roles: frozenset[Role]
    district: int | None = None
    sites: frozenset[uuid.UUID] = field(default_factory=frozenset)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def covers_district(self, district: int) -> bool:
        """May this caller act in ``district``? Social workers only in their own."""
        if self.roles - {Role.SOCIAL_WORKER}:
            return True
        return self.district == district

    def operates(self, site_id: uuid.UUID) -> bool:
        """May this caller act on ``site_id``? Site operators only on their own sites."""
        if self.roles - {Role.SITE_OPERATOR}:
            return True
        return site_id in self.sites


def actor_from_claims(claims: Mapping[str, Any]) -> Actor:
    """The actor a verified token describes; unknown roles are ignored, not trusted."""
    raw_roles = claims.get("roles") or []
    if isinstance(raw_roles, str):
        raw_roles = raw_roles.split()
    roles = frozenset(Role(r) for r in raw_roles if r in Role._value2member_map_)
    district = claims.get("district")
    try:
        district = int(district) if district is not None else None
    except (TypeError, ValueError):
        district = None
    sites: set[uuid.UUID] = set()
    for raw in claims.get("sites") or []:
        try:
            sites.add(uuid.UUID(str(raw)))
        except ValueError:
            continue
    return Actor(str(claims["sub"]), roles, district, frozenset(sites))


class KeySet:
    """The issuer's public keys (JWKS), fetched from a URL or a file and cached.

    Re-fetched at most every ``refresh_seconds``, and at once (rate-limited) when a
    token names a key id it does not know: that is how a rotated signing key arrives.
    """

    def __init__(self, url: str, refresh_seconds: float = 300.0) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _load(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        if parts.scheme in ("http", "https"):
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                document = response.json()
        else:
            path = Path(parts.path if parts.scheme == "file" else self.url)
            document = json.loads(await asyncio.to_thread(path.read_text))
        keys: dict[str, Any] = {}
        for jwk in jwt.PyJWKSet.from_dict(document).keys:
            if jwk.algorithm_name in ALGORITHMS and jwk.key_id:
                keys[jwk.key_id] = jwk
        return keys

    async def key(self, kid: str) -> Any:
        stale = time.monotonic() - self._fetched_at
        if kid not in self._keys or stale > self.refresh_seconds:
            async with self._lock:
                stale = time.monotonic() - self._fetched_at
                # An unknown kid refreshes at most every 10 s, so bad tokens cannot hammer
                # the identity provider.
                if stale > self.refresh_seconds or (kid not in self._keys and stale > 10):
                    self._keys = await self._load()
                    self._fetched_at = time.monotonic()
        try:
            return self._keys[kid]
        except KeyError:
            raise jwt.InvalidTokenError(f"unknown signing key {kid!r}") from None


@dataclass(frozen=True, slots=True)
class _Verified:
    actor: Actor
    expires_at: float  # the token's ``exp`` with the leeway, epoch seconds


class TokenVerifier:
    """Checks a bearer token: signature by the issuer's key, issuer, audience, expiry.

    A token once verified is remembered (the exact string, at most ``cache_size`` of
    them) until its expiry or for ``cache_seconds``, whichever comes first: a client sends
    the same token with every request, and checking its signature, issuer and audience
    again was half the cost of a small request. Nothing is trusted for longer than the
    issuer's keys themselves are (``KeySet`` re-reads them every 300 s), and an expired
    token is refused at once, cached or not.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str,
        leeway_seconds: int = 30,
        *,
        cache_seconds: float = 60.0,
        cache_size: int = 1024,
    ):
        self.issuer = issuer
        self.audience = audience
        self.keys = KeySet(jwks_url)
        self.leeway = leeway_seconds
        self._verified: TLRUCache[str, _Verified] = TLRUCache(
            maxsize=cache_size,
            ttu=lambda _token, v, now: min(v.expires_at, now + cache_seconds),
            timer=time.time,
        )

    async def verify(self, token: str) -> Actor:
        known = self._verified.get(token)
        if known is not None:
            return known.actor
        claims = await self._decode(token)
        actor = actor_from_claims(claims)
        self._verified[token] = _Verified(actor, float(claims["exp"]) + self.leeway)
        return actor

    async def _decode(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not allowed")
        jwk = await self.keys.key(str(header.get("kid")))
        claims: dict[str, Any] = jwt.decode(
            token,
            key=jwk.key,
            algorithms=[jwk.algorithm_name],
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        return claims


_bearer = HTTPBearer(auto_error=False, description="OIDC access token (JWT)")

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


class RoleCheck:
    """A FastAPI dependency that admits only the listed roles; returns the :class:`Actor`.

    The roles stay readable on the dependency (``.roles``), so the role table in the docs
    and the test that walks every route are generated from the routes themselves.
    """

    def __init__(self, roles: tuple[Role, ...]) -> None:
        if not roles:
            raise ValueError("an endpoint must allow at least one role")
        self.roles = frozenset(roles)

    async def __call__(self, request: Request) -> Actor:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise HTTPException(401, "a bearer token is required", headers=UNAUTHORIZED)
        verifier: TokenVerifier = request.app.state.verifier
        try:
            actor = await verifier.verify(credentials.credentials)
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            log.info("token refused", reason=str(exc))
            raise HTTPException(401, f"invalid token: {exc}", headers=UNAUTHORIZED) from exc
        except (OSError, httpx.HTTPError) as exc:
            log.warning("issuer keys unavailable", error=repr(exc))
            raise HTTPException(
                503, "the identity provider's keys are unavailable; retry shortly"
            ) from exc
        if not actor.roles & self.roles:
            raise HTTPException(
                403, f"this needs one of the roles: {', '.join(sorted(self.roles))}"
            )
        request.state.actor = actor
        # The rest of this request acts as ``actor``: audit rows, ``ce_actor`` on events.
        route = request.scope.get("route")
        path = route.path if route is not None else request.url.path
        audit.enter(actor, f"{request.method} {path}", request.path_params)
        return actor


def allow(*roles: Role) -> Callable[[Request], Any]:
    """``actor: Annotated[Actor, Depends(allow(Role.HOUSING_STAFF))]`` on every route."""
    return RoleCheck(roles)


def declared_roles(route: Any) -> frozenset[Role] | None:
    """The roles a route allows, from its dependencies; None for a public route."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RoleCheck):
            return dep.call.roles
        stack.extend(dep.dependencies)
    return None
