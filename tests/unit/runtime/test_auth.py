"""Bearer tokens: what the verifier accepts and refuses, and how roles admit a caller."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import jwt
import pytest
from ankommen_runtime.auth import Actor, Role, TokenVerifier, allow, declared_roles
from ankommen_runtime.local_issuer import LOCAL_ISSUER, LocalIssuer
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path).ensure()


def verifier(
    issuer: LocalIssuer, audience: str = "ankommen-housing", **options: Any
) -> TokenVerifier:
    return TokenVerifier(LOCAL_ISSUER, audience, issuer.jwks_url, **options)


async def test_a_token_of_the_issuer_yields_its_actor(issuer: LocalIssuer) -> None:
    site = uuid.uuid4()
    token = issuer.mint(
        [Role.SITE_OPERATOR], audience="ankommen-housing", subject="staff-1", sites=[site]
    )
    actor = await verifier(issuer).verify(token)
    assert actor == Actor("staff-1", frozenset({Role.SITE_OPERATOR}), None, frozenset({site}))
    assert actor.operates(site)
    assert not actor.operates(uuid.uuid4())


async def test_a_token_for_another_service_is_refused(issuer: LocalIssuer) -> None:
    token = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-allocation")
    with pytest.raises(jwt.InvalidAudienceError):
        await verifier(issuer).verify(token)


async def test_an_expired_token_is_refused(issuer: LocalIssuer) -> None:
    token = issuer.mint(
        [Role.HOUSING_STAFF], audience="ankommen-housing", now=time.time() - 3600, ttl_seconds=60
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        await verifier(issuer).verify(token)


async def test_a_token_signed_by_another_key_is_refused(
    issuer: LocalIssuer, tmp_path: Path
) -> None:
    forger = LocalIssuer(tmp_path / "other").ensure()
    # Same key id as the real issuer, other key: only the signature can tell.
    (forger.folder / "kid").write_text((issuer.folder / "kid").read_text())
    token = forger.mint([Role.HOUSING_STAFF], audience="ankommen-housing")
    with pytest.raises(jwt.InvalidSignatureError):
        await verifier(issuer).verify(token)


async def test_a_symmetric_or_unsigned_token_is_refused(issuer: LocalIssuer) -> None:
    claims = {
        "iss": LOCAL_ISSUER,
        "aud": "ankommen-housing",
        "sub": "x",
        "roles": ["operations"],
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    kid = (issuer.folder / "kid").read_text()
    for token in (
        jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": kid}),
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
    ):
        with pytest.raises(jwt.InvalidAlgorithmError):
            await verifier(issuer).verify(token)


async def test_a_rotated_key_is_fetched_and_the_old_one_still_verifies(issuer: LocalIssuer) -> None:
    check = verifier(issuer)
    old = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-housing")
    await check.verify(old)
    check.keys._fetched_at -= 60  # the unknown-kid refresh is rate-limited to every 10 s
    issuer.rotate()
    new = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-housing")
    assert (await check.verify(new)).roles == {Role.HOUSING_STAFF}
    assert (await check.verify(old)).roles == {Role.HOUSING_STAFF}


async def test_a_verified_token_is_checked_once_while_it_is_remembered(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    check = verifier(issuer)
    first = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-housing", subject="a")
    other = issuer.mint([Role.SITE_OPERATOR], audience="ankommen-housing", subject="b")
    assert (await check.verify(first)).subject == "a"
    assert (await check.verify(first)).subject == "a"
    assert (await check.verify(other)).roles == {Role.SITE_OPERATOR}
    assert decoded == [first, other]
    forgetful = verifier(issuer, cache_seconds=0)
    await forgetful.verify(first)
    await forgetful.verify(first)
    assert decoded == [first, other, first, first]


async def test_a_remembered_token_is_refused_once_it_expires(issuer: LocalIssuer) -> None:
    check = verifier(issuer, leeway_seconds=0)
    token = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-housing", ttl_seconds=1)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert (await check.verify(token)).roles == {Role.HOUSING_STAFF}
    await asyncio.sleep(max(expires - time.time(), 0) + 0.05)  # past its exp (wall clock)
    with pytest.raises(jwt.ExpiredSignatureError):
        await check.verify(token)


def test_a_social_worker_covers_only_their_district() -> None:
    worker = Actor("s", frozenset({Role.SOCIAL_WORKER}), district=9)
    assert worker.covers_district(9)
    assert not worker.covers_district(10)
    assert Actor("a", frozenset({Role.ALLOCATION_STAFF})).covers_district(10)


HousingStaff = Annotated[Actor, Depends(allow(Role.HOUSING_STAFF, Role.OPERATIONS))]


def app_with_route(issuer: LocalIssuer) -> FastAPI:
    app = FastAPI()
    app.state.verifier = verifier(issuer)

    @app.get("/sites")
    async def sites(actor: HousingStaff) -> dict:
        return {"subject": actor.subject}

    return app


def test_a_route_answers_401_403_or_200_by_token_and_role(issuer: LocalIssuer) -> None:
    app = app_with_route(issuer)
    client = TestClient(app)
    assert client.get("/sites").status_code == 401
    assert client.get("/sites", headers={"authorization": "Bearer nonsense"}).status_code == 401
    reader = issuer.mint([Role.COUNCIL_READER], audience="ankommen-housing")
    assert client.get("/sites", headers={"authorization": f"Bearer {reader}"}).status_code == 403
    staff = issuer.mint([Role.HOUSING_STAFF], audience="ankommen-housing", subject="staff-7")
    answer = client.get("/sites", headers={"authorization": f"Bearer {staff}"})
    assert answer.status_code == 200
    assert answer.json() == {"subject": "staff-7"}
    (route,) = [r for r in app.routes if getattr(r, "path", "") == "/sites"]
    assert declared_roles(route) == {Role.HOUSING_STAFF, Role.OPERATIONS}
