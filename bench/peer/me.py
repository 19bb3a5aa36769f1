"""A peer outside the project for the `GET /v1/auth/me` row of the benchmarks.

It is the endpoint as the FastAPI products this project replaces served it,
reduced to what the request does: verify the bearer JWT (PyJWT, EdDSA,
issuer and audience pinned), read the user's row from PostgreSQL (asyncpg),
answer JSON. Run under uvicorn with one worker per core, against the same
auth database and the same published key as the stack under test:

    PEER_DATABASE_URL=postgresql://postgres@127.0.0.1:PORT/auth \
    PEER_JWKS_URL=http://127.0.0.1:GATEWAY/.well-known/jwks.json \
    /opt/bench-peer/bin/uvicorn me:app --app-dir bench/peer --workers 2 \
        --port 8099 --no-access-log --log-level warning

Python packages (PyPI): fastapi, uvicorn[standard], pyjwt[crypto], asyncpg.
"""

import json
import os
import urllib.request

from contextlib import asynccontextmanager

import asyncpg
import jwt
from fastapi import FastAPI, Header, HTTPException

state = {}


@asynccontextmanager
async def lifespan(_app):
    with urllib.request.urlopen(os.environ["PEER_JWKS_URL"]) as response:
        jwks = json.load(response)
    state["keys"] = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    state["pool"] = await asyncpg.create_pool(
        os.environ["PEER_DATABASE_URL"], min_size=4, max_size=16
    )
    yield
    await state["pool"].close()


app = FastAPI(lifespan=lifespan)


@app.get("/v1/auth/me")
async def me(authorization: str = Header(default="")):
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status_code=401, detail="missing bearer token")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = state["keys"][kid]
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=os.environ.get("PEER_AUDIENCE", "backbone"),
            issuer=os.environ.get("PEER_ISSUER", "auth-service"),
        )
    except (jwt.PyJWTError, KeyError):
        raise HTTPException(status_code=401, detail="invalid token")
    row = await state["pool"].fetchrow(
        "SELECT id, email, username, full_name, avatar, is_active, is_superuser,"
        " created_at, updated_at, last_login_at, login_count"
        " FROM users WHERE id = $1::uuid",
        claims["sub"],
    )
    if row is None or not row["is_active"]:
        raise HTTPException(status_code=401, detail="no such user")
    user = dict(row)
    user["user_id"] = str(user.pop("id"))
    for field in ("created_at", "updated_at", "last_login_at"):
        if user[field] is not None:
            user[field] = user[field].isoformat()
    return {"user": user}
