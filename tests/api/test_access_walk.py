"""Access checks over the whole OpenAPI document: every route needs a token except the signed webhooks and health."""

import re

from sqlalchemy import select
from sqlmodel import Session

from models.tables import ApiToken, User

OPEN = {"/healthz", "/readyz"}
SIGNED = re.compile(r"^/v1/webhooks/")


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


def test_every_route_in_the_openapi_document_needs_a_token(api):
    with api.client() as client:
        document = client.get("/openapi.json").json()
        checked = []
        for path, operations in document["paths"].items():
            for method in operations:
                response = client.request(method.upper(), concrete(path), json={})
                if path in OPEN:
                    assert response.status_code in (200, 503), (method, path)
                elif SIGNED.match(path):
                    assert response.status_code == 403, (method, path)  # unsigned: refused, nothing recorded
                else:
                    assert response.status_code == 401, (method, path, response.status_code)
                    assert response.json()["error"]["code"]
                checked.append((method, path))
    assert len(checked) >= 12, checked


def test_tokens_are_stored_hashed(api):
    staff = api.new_staff("ops", "Hash Check", token=True)
    with Session(api.services.engine) as db:
        stored = db.execute(select(ApiToken).where(ApiToken.user_id == staff.id)).scalars().one()
        user = db.get(User, staff.id)
    assert staff.token not in str(stored.model_dump().values()) and staff.token not in str(user.model_dump().values())
    assert len(stored.token_hash) == 64 and stored.token_hash != staff.token
    assert staff.password not in str(user.model_dump().values()) and user.password_hash.startswith("$argon2id$")
