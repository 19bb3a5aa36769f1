#!/usr/bin/env python3
"""The attacks of issue 18, repeated from loopback against a running stack
(the dev stack: `cargo run --release -p devstack`). Standard library only.

    python3 bench/attacks/run.py [http://127.0.0.1:8080]

Each attack prints one line of figures. The attacker sends from 127.0.0.2,
the honest user from 127.0.0.1 (any 127.x.y.z is a distinct client on
loopback). Accounts get fresh names each run, so a run can be repeated.
"""

import asyncio
import json
import sys
import time
import uuid

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
HOST, PORT = BASE.removeprefix("http://").split(":")
PORT = int(PORT)
PASSWORD = "correct horse battery"
ATTACKER = "127.0.0.2"
HONEST = "127.0.0.1"


async def request(method, path, body=None, source=HONEST, token=None, timeout=60):
    """One HTTP/1.1 request on its own connection: (status, json body, seconds)."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, PORT, local_addr=(source, 0)), timeout
    )
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    payload = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return status, parsed, time.monotonic() - started


async def account(prefix):
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    status, _, _ = await request("POST", "/v1/auth/register", {"email": email, "password": PASSWORD})
    assert status == 200, status
    return email


async def concurrent_guesses():
    email = await account("guess")
    results = await asyncio.gather(
        *[
            request("POST", "/v1/auth/login", {"email": email, "password": f"wrong {i}"}, ATTACKER)
            for i in range(40)
        ]
    )
    statuses = [r[0] for r in results]
    print(
        f"concurrent guesses: 40 sent at once, {statuses.count(401)} evaluated (401), "
        f"{statuses.count(429)} refused (429), others {len(statuses) - statuses.count(401) - statuses.count(429)}"
    )


async def forked_refreshes():
    email = await account("refresh")
    _, pair, _ = await request("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    token = pair["refresh_token"]
    forked = 0
    for _ in range(20):
        results = await asyncio.gather(
            *[request("POST", "/v1/auth/refresh", {"refresh_token": token}) for _ in range(2)]
        )
        ok = [r for r in results if r[0] == 200]
        if len(ok) == 2:
            forked += 1
        if not ok:
            _, pair, _ = await request("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
            token = pair["refresh_token"]
        else:
            token = ok[0][1]["refresh_token"]
    print(f"forked refreshes: 20 rounds of 2 concurrent refreshes, {forked} rounds with 2 successes")


async def registration_flood():
    email = await account("victim")
    stop = time.monotonic() + 8
    outcomes = {}

    async def flooder():
        while time.monotonic() < stop:
            mail = f"flood-{uuid.uuid4().hex}@example.com"
            try:
                status, _, _ = await request(
                    "POST", "/v1/auth/register", {"email": mail, "password": PASSWORD}, ATTACKER, timeout=20
                )
            except (OSError, asyncio.TimeoutError):
                status = "error"
            outcomes[status] = outcomes.get(status, 0) + 1

    flood = [asyncio.create_task(flooder()) for _ in range(64)]
    await asyncio.sleep(2)  # the attack's pace, not a synchronisation
    latencies = []
    for _ in range(3):
        status, _, seconds = await request("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, status
        latencies.append(seconds)
    await asyncio.gather(*flood)
    print(
        f"registration flood: 64 concurrent from {ATTACKER} for 8 s ({outcomes}); "
        f"logins from {HONEST}: {', '.join(f'{s:.2f} s' for s in latencies)}"
    )


async def slow_bodies():
    email = await account("slow")
    held = []
    refused = 0

    async def open_slow():
        nonlocal refused
        reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=(ATTACKER, 0))
        writer.write(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        held.append((reader, writer))

    for _ in range(1100 // 90 + 1):  # 90 connections a second, under the rate limit
        await asyncio.gather(*[open_slow() for _ in range(min(90, 1100 - len(held)))])
        await asyncio.sleep(1)
    # Whoever was refused has an answer already.
    for reader, _ in held:
        try:
            head = await asyncio.wait_for(reader.read(12), 0.05)
            if head.startswith(b"HTTP/1.1 429"):
                refused += 1
        except asyncio.TimeoutError:
            pass
    health, _, health_s = await request("GET", "/healthz")
    login, _, login_s = await request("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    print(
        f"slow bodies: {len(held)} open from {ATTACKER}, {refused} refused at once (429); "
        f"/healthz {health} in {health_s:.3f} s, a login from {HONEST} {login} in {login_s:.2f} s"
    )
    for _, writer in held:
        writer.close()


async def main():
    for attack in (concurrent_guesses, forked_refreshes, registration_flood, slow_bodies):
        await attack()


asyncio.run(main())
