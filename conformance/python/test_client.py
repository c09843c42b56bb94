"""A second Socket.IO client implementation against the protocol: the core
subset with python-socketio's AsyncClient (PyPI), as a Python app or
service would use it.

    SB_URLS=http://127.0.0.1:3000[,http://127.0.0.1:3001] SB_JWT_SECRET=... \
        python conformance/python/test_client.py

With two URLs, the two users of each test sit on different nodes. Exits
non-zero when any test fails. Differences from the JS client are noted in
docs/clients.md.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import traceback

import socketio

URLS = [u for u in os.environ.get("SB_URLS", "").split(",") if u]
SECRET = os.environ.get("SB_JWT_SECRET", "")
if not URLS or not SECRET:
    sys.exit("set SB_URLS and SB_JWT_SECRET")

T = 5  # seconds to wait for something that must happen


def node(i):
    return URLS[i % len(URLS)]


def uid(label):
    return f"{label}-{secrets.token_hex(6)}"


def b64(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(sub, exp_in=600, key=None, **claims):
    head = b64({"alg": "HS256", "typ": "JWT"})
    body = b64({"sub": sub, "exp": int(time.time()) + exp_in, **claims})
    sig = hmac.new((key or SECRET).encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


class Client:
    """One connection and every event it received."""

    def __init__(self, user):
        self.user = user
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events = []
        self.arrived = asyncio.Event()
        self.refusal = None

        @self.sio.on("*")
        async def any_event(event, data=None):
            self.events.append((event, data))
            self.arrived.set()

        @self.sio.on("connect_error")
        async def refused(data=None):
            self.refusal = data

    async def connect(self, i=0, auth=None):
        auth = {"token": token(self.user)} if auth is None else auth
        # Default transports: long-polling first, then the upgrade.
        await self.sio.connect(node(i), auth=auth, wait_timeout=T)
        return await self.take("connected")

    async def take(self, name, pred=lambda d: True, timeout=T):
        deadline = time.monotonic() + timeout
        while True:
            for k, (event, data) in enumerate(self.events):
                if event == name and pred(data):
                    del self.events[k]
                    return data
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user}: no {name} within {timeout} s")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def none(self, name, window=0.3):
        await asyncio.sleep(window)
        hits = [d for e, d in self.events if e == name]
        assert not hits, f"{self.user}: unexpected {name}: {hits}"

    async def call(self, event, data):
        return await self.sio.call(event, data, timeout=T)

    async def ok(self, event, data):
        r = await self.call(event, data)
        assert r.get("ok") is True, f"{event} {data} -> {r}"
        return r

    async def fails(self, event, data):
        r = await self.call(event, data)
        assert r.get("ok") is False, f"{event} expected to fail -> {r}"
        assert isinstance(r["error"]["message"], str)
        return r["error"]["code"]

    async def close(self):
        await self.sio.disconnect()


async def pair():
    alice, bob = Client(uid("alice")), Client(uid("bob"))
    await alice.connect(0)
    await bob.connect(1)
    r = await alice.ok("chat:create", {"kind": "group", "members": [bob.user]})
    chat = r["chat"]["id"]
    await bob.take("chat:updated", lambda d: d["chat"]["id"] == chat)
    return alice, bob, chat


async def test_connect_and_refusals():
    c = Client(uid("u"))
    hello = await c.connect(0)
    assert hello["userId"] == c.user
    for key in ("deviceId", "socketId", "nodeId", "serverTime"):
        assert isinstance(hello[key], str), hello
    assert hello["serverTime"].endswith("Z") and len(hello["serverTime"]) == 24
    await c.close()
    cases = [
        ({}, "AUTH_MISSING"),
        ({"token": token("x", key="not-the-secret-0123456789abcdef")}, "AUTH_INVALID"),
        ({"token": token("x", exp_in=-3600)}, "AUTH_EXPIRED"),
    ]
    for auth, code in cases:
        r = Client(uid("r"))
        try:
            await r.connect(0, auth=auth)
        except socketio.exceptions.ConnectionError:
            pass
        else:
            raise AssertionError(f"{code}: connected")
        # python-socketio hands connect_error the whole packet payload,
        # { message, data }; the JS client gives an Error with err.message
        # and err.data. Same content.
        got = r.refusal
        assert isinstance(got, dict) and got.get("message") == code, f"{code}: {got!r}"
        assert got["data"]["code"] == code and isinstance(got["data"]["message"], str), got
        await r.close()


async def test_messages_acks_delivery_and_client_id_retry():
    alice, bob, chat = await pair()
    msg = {"chatId": chat, "content": "hi from python", "clientId": uid("c")}
    sent = (await alice.ok("message:new", msg))["message"]
    assert sent["senderId"] == alice.user and sent["seq"] == 1
    got = await bob.take("message:new")
    assert got["message"]["id"] == sent["id"]
    # A retry with the same clientId: the stored message, nothing delivered.
    again = (await alice.ok("message:new", msg))["message"]
    assert again["id"] == sent["id"] and again["seq"] == 1
    await bob.none("message:new")
    await alice.close()
    await bob.close()


async def test_history_sync_and_receipts():
    alice, bob, chat = await pair()
    ids = []
    for i in range(5):
        r = await alice.ok("message:new", {"chatId": chat, "content": f"m{i}", "clientId": uid("c")})
        ids.append(r["message"]["id"])
    h = await bob.ok("chat:history", {"chatId": chat, "limit": 3})
    assert [m["seq"] for m in h["messages"]] == [3, 4, 5] and h["hasMore"] is True
    s = await bob.ok("chat:sync", {"chats": [{"chatId": chat, "afterSeq": 2}]})
    entry = s["chats"][0]
    assert [m["seq"] for m in entry["messages"]] == [3, 4, 5] and entry["complete"] is True
    await bob.ok("message:read", {"chatId": chat, "messageId": ids[-1]})
    read = await alice.take("message:read", lambda d: d["userId"] == bob.user)
    assert read["seq"] == 5 and read["messageId"] == ids[-1]
    await alice.close()
    await bob.close()


async def test_presence():
    alice, bob, chat = await pair()
    await alice.ok("presence:subscribe", {"userIds": [bob.user]})
    await bob.ok("presence:update", {"status": "busy"})
    busy = lambda d: d["presence"]["userId"] == bob.user and d["presence"]["status"] == "busy"
    await alice.take("presence:update", busy)
    r = await alice.ok("presence:get", {"userIds": [bob.user]})
    assert r["presences"][0]["status"] == "busy"
    await alice.close()
    await bob.close()


async def test_error_acks_and_error_events():
    alice, bob, chat = await pair()
    mallory = Client(uid("mallory"))
    await mallory.connect(0)
    assert await mallory.fails("message:new", {"chatId": chat, "content": "x"}) == "FORBIDDEN"
    assert await mallory.fails("message:new", {"content": "no chat"}) == "INVALID_PAYLOAD"
    assert await mallory.fails("no:such-event", {}) == "INVALID_PAYLOAD"
    # Without an ack, a failure comes back as the server event `error`.
    await mallory.sio.emit("message:new", {"chatId": chat, "content": "x"})
    e = await mallory.take("error")
    assert e == {"event": "message:new", "code": "FORBIDDEN", "message": e["message"]}
    for c in (alice, bob, mallory):
        await c.close()


TESTS = [
    test_connect_and_refusals,
    test_messages_acks_delivery_and_client_id_retry,
    test_history_sync_and_receipts,
    test_presence,
    test_error_acks_and_error_events,
]


async def main():
    failed = 0
    for t in TESTS:
        try:
            await asyncio.wait_for(t(), 60)
            print(f"ok - {t.__name__}")
        except Exception:
            failed += 1
            print(f"not ok - {t.__name__}")
            traceback.print_exc()
    print(f"{len(TESTS) - failed} passed, {failed} failed")
    return failed


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main()) else 0)
