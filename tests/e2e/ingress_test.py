#!/usr/bin/python3
"""End-to-end tests of nudged's HTTP ingress (SPEC §5) against the real binary.

Every status code of SPEC §5 is provoked by a real request, and each refusal is followed by a
check that the log did not grow. Zoom and Twilio payloads are shaped and signed the way those
services send them. The admin socket is driven through nudgectl.

Usage: ingress_test.py --nudged PATH --nudgectl PATH
"""

import argparse
import base64
import faulthandler
import hashlib
import gzip
import hmac
import http.client
import json
import os
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

NUDGED = NUDGECTL = None
SECRET = "e2e-webhook-secret-0123456789"
ZOOM_SECRET = "zoom-secret-token-abcdef"
TWILIO_TOKEN = "twilio-auth-token-123456"
TWILIO_URL = "https://reminders.example.org/v1/webhooks/twilio/sms"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """
[daemon]
state_dir = "{dir}/state"
listen = "127.0.0.1:{port}"
admin_socket = "{dir}/run/admin.sock"
public_url = "https://reminders.example.org"
log_level = "trace"

[webhooks]
secret = "{secret}"
tolerance = "5m"
max_body = 4096

[webhooks.zoom]
secret_token = "{zoom}"

[webhooks.twilio]
auth_token = "{twilio}"
public_url = "{twilio_url}"

[channels.email]
kind = "file"
dir = "{dir}/outbox/email"

[channels.sms]
kind = "file"
dir = "{dir}/outbox/sms"

[policy]
quiet_hours = ""
"""

SESSION = {
    "session_id": "s-ibd-1",
    "group": "ibd",
    "title": "IBD peer support",
    "starts_at": "2030-05-01T19:00:00-04:00",
    "time_zone": "America/New_York",
    "duration_minutes": 90,
    "join_url": "https://zoom.example/j/555",
    "facilitators": [{"name": "Facilitator One", "email": "fac.one@example.org"}],
    "zoom_meeting_id": "85746065432",
}


# Every personal value any test here sends: none may appear in a log or a database file.
PERSONAL_VALUES = ("ana@example.org", "Ana Example", "+14155550123", "4155550123",
                   "zoe@example.org", "Zoe", "Sample", "Zoe Sample", "+14155550177", "4155550177",
                   "Facilitator One", "fac.one@example.org", "Someone Else", "Crohn flare plan", "hospital stay for colitis")


def registration(**over):
    r = {
        "session_id": "s-ibd-1",
        "participant": {"name": "Ana Example", "email": "ana@example.org",
                        "phone": "+14155550123", "time_zone": "America/New_York"},
        "channels": ["email"],
        "sms_consent": False,
        "accommodations": [{"kind": "other", "details": "Crohn flare plan: seat near the door"}],
    }
    r.update(over)
    return r


def read_until_closed(sock):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def nudged_signature(body, t=None, secret=SECRET):
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def zoom_headers(body, t=None, secret=ZOOM_SECRET):
    t = str(int(time.time()) if t is None else t)
    mac = hmac.new(secret.encode(), f"v0:{t}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-zm-signature": f"v0={mac}", "x-zm-request-timestamp": t,
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "Zoom Marketplace/1.0a"}


def twilio_signature(params, url=TWILIO_URL, token=TWILIO_TOKEN):
    data = url + "".join(k + v for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class Daemon:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="nudged-ingress-")
        self.dir = self.tmp.name
        self.port = free_port()
        self.config = os.path.join(self.dir, "nudged.toml")
        self.socket = os.path.join(self.dir, "run", "admin.sock")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(dir=self.dir, port=self.port, secret=SECRET, zoom=ZOOM_SECRET,
                                  twilio=TWILIO_TOKEN, twilio_url=TWILIO_URL))
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.proc = None

    def start(self, extra_env=None, pass_fds=(), argv_prefix=(), preexec_fn=None):
        env = dict(os.environ)
        env.update(extra_env or {})
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([*argv_prefix, NUDGED, "--config", self.config],
                                         stdout=log, stderr=log, env=env, pass_fds=pass_fds,
                                         preexec_fn=preexec_fn)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nudged exited: " + self.read_log())
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("nudged did not become ready: " + self.read_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
            return rc
        return None

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def request(self, method, path, body=b"", headers=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if own:
            conn.close()
        return r.status, data, hdrs

    def signed(self, path, payload, headers=None, secret=SECRET, t=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h = {"Content-Type": "application/json", "Nudged-Signature": nudged_signature(body, t, secret)}
        h.update(headers or {})
        status, data, hdrs = self.request("POST", path, body, h)
        return status, (json.loads(data) if data else None), hdrs

    def ctl(self, *args, input=None, check=True, via=("--config",), timeout=60):
        target = self.config if via == ("--config",) else via[1]
        r = subprocess.run([NUDGECTL, via[0], target, *args], input=input, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"nudgectl {args}: {r.returncode} {r.stdout} {r.stderr}")
        return r

    def events(self):
        out = self.ctl("events", "export", "--include-personal-data").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def close(self):
        self.stop()
        self.tmp.cleanup()


class IngressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.start()
        status, body, _ = cls.d.signed("/v1/events", {"type": "session.scheduled", "data": SESSION})
        assert status == 202, body

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        log = cls.d.read_log()
        state = os.path.join(cls.d.dir, "state")
        raw = {}
        for name in sorted(os.listdir(state)):
            if name.startswith("nudged.db"):
                with open(os.path.join(state, name), "rb") as f:
                    raw[name] = f.read()
        cls.d.tmp.cleanup()
        # No personal value sent by any test may reach the log (at trace level), and none may
        # be readable in the bytes of the event database, its WAL or the key store.
        for secret_value in PERSONAL_VALUES:
            assert secret_value not in log, f"{secret_value!r} appears in the daemon's log"
            # A value as short as "Zoe" turns up by chance in kilobytes of base64 ciphertext
            # (about once in 260,000 characters) or random key bytes: in the database it is
            # looked for as the JSON string a leak would write.
            needle = (f'"{secret_value}"' if len(secret_value) < 6 else secret_value).encode()
            for name, data in raw.items():
                assert needle not in data, f"{secret_value!r} appears in {name}"
        assert "nudged.db" in raw and "nudged.db.keys" in raw, sorted(raw)
        assert rc == 0, f"nudged exited {rc}\n{log[-3000:]}"

    def count(self):
        # Requests never append outcomes; the daemon's own (confirmations of earlier tests
        # being sent) may land at any moment, so they are not counted.
        return len([e for e in self.d.events() if not e["type"].startswith("notification.")])

    def assert_refused(self, expect_status, expect_code, call):
        before = self.count()
        status, body, hdrs = call()
        self.assertEqual(status, expect_status, body)
        if expect_code is not None:
            self.assertEqual(body["error"]["code"], expect_code, body)
        self.assertEqual(self.count(), before, "a refused request appended something")
        return body, hdrs

    # --- native API ------------------------------------------------------------------------

    def test_registration_is_durable_when_accepted(self):
        status, body, _ = self.d.signed("/v1/registrations", registration(registration_id="r-durable"))
        self.assertEqual(status, 202, body)
        self.assertEqual(body["registration_id"], "r-durable")
        events = self.d.events()
        ours = [e for e in events if e["type"] == "registration.received"
                and e["data"]["registration_id"] == "r-durable"]
        self.assertEqual(len(ours), 1)
        self.assertEqual(ours[0]["position"], body["position"])
        self.assertEqual(ours[0]["meta"]["source"], "webhook:native")

    def test_missing_registration_id_is_made_and_returned(self):
        status, body, _ = self.d.signed("/v1/registrations", registration())
        self.assertEqual(status, 202, body)
        self.assertTrue(body["registration_id"].startswith("reg-"))
        self.assertTrue(body["participant_id"])

    def test_signature_problems_are_401(self):
        payload = json.dumps(registration(registration_id="r-sig")).encode()
        self.assert_refused(401, "bad_signature", lambda: self._raw_json(
            "/v1/registrations", payload, {"Content-Type": "application/json"}))
        self.assert_refused(401, "bad_signature", lambda: self.d.signed(
            "/v1/registrations", payload, secret="not-the-secret-at-all"))
        stale = int(time.time()) - 600
        body, _ = self.assert_refused(401, "bad_signature", lambda: self.d.signed(
            "/v1/registrations", payload, t=stale))
        self.assertIn("skew", body["error"]["message"])
        # A signature over other bytes than those sent.
        h = {"Content-Type": "application/json",
             "Nudged-Signature": nudged_signature(payload + b" ")}
        self.assert_refused(401, "bad_signature", lambda: self._raw_json("/v1/registrations", payload, h))

    def _raw_json(self, path, body, headers):
        status, data, hdrs = self.d.request("POST", path, body, headers)
        return status, json.loads(data) if data else None, hdrs

    def test_malformed_json_is_400(self):
        self.assert_refused(400, "malformed", lambda: self.d.signed("/v1/registrations", b"{\"session_id\":"))
        self.assert_refused(400, "malformed", lambda: self.d.signed("/v1/registrations", b"[1,2]"))
        self.assert_refused(400, "malformed", lambda: self.d.signed("/v1/events", b"nope"))

    def test_wrong_content_type_is_415(self):
        body = json.dumps(registration()).encode()
        h = {"Content-Type": "text/plain", "Nudged-Signature": nudged_signature(body)}
        self.assert_refused(415, "unsupported_media_type", lambda: self._raw_json("/v1/registrations", body, h))

    def test_invalid_registrations_are_422_with_the_field(self):
        body, _ = self.assert_refused(422, "unknown_session", lambda: self.d.signed(
            "/v1/registrations", registration(session_id="no-such-session")))
        self.assertEqual(body["error"]["field"], "session_id")
        body, _ = self.assert_refused(422, "invalid_field", lambda: self.d.signed(
            "/v1/registrations", registration(channels=["sms"], sms_consent=False)))
        self.assertEqual(body["error"]["field"], "sms_consent")
        body, _ = self.assert_refused(422, "invalid_field", lambda: self.d.signed(
            "/v1/registrations", registration(channels=[])))
        self.assertEqual(body["error"]["field"], "channels")
        bad_email = registration()
        bad_email["participant"]["email"] = "not-an-address"
        body, _ = self.assert_refused(422, "invalid_field", lambda: self.d.signed(
            "/v1/registrations", bad_email))
        self.assertEqual(body["error"]["field"], "participant.email")
        self.assertNotIn("not-an-address", json.dumps(body))
        body, _ = self.assert_refused(422, "invalid_field", lambda: self.d.signed(
            "/v1/registrations", registration(surprise=1)))
        self.assertEqual(body["error"]["field"], "surprise")

    def test_idempotency_key_replays_the_first_response_and_conflicts_on_reuse(self):
        h = {"Idempotency-Key": "form-submit-7f3a"}
        first = self.d.signed("/v1/registrations", registration(), headers=h)
        self.assertEqual(first[0], 202, first[1])
        before = self.count()
        again = self.d.signed("/v1/registrations", registration(), headers=h)
        self.assertEqual((again[0], again[1]), (first[0], first[1]))
        self.assertEqual(self.count(), before)
        other = registration()
        other["participant"]["name"] = "Someone Else"
        self.assert_refused(409, "conflict", lambda: self.d.signed("/v1/registrations", other, headers=h))

    def test_cancel_and_events_batch_is_atomic(self):
        self.assertEqual(self.d.signed("/v1/registrations", registration(registration_id="r-cancel"))[0], 202)
        status, body, _ = self.d.signed("/v1/registrations/r-cancel/cancel", {"reason": "hospital stay for colitis"})
        self.assertEqual(status, 202, body)
        self.assert_refused(422, "unknown_registration", lambda: self.d.signed(
            "/v1/registrations/r-nobody/cancel", b""))
        # A captured cancel signature (the body is empty: it signs only the time) is not good
        # for another registration's cancel.
        for rid in ("r-first", "r-other"):
            self.assertEqual(self.d.signed("/v1/registrations", registration(registration_id=rid))[0], 202)
        sig = nudged_signature(b"", t=int(time.time()) - 7)  # a time no other request used
        h = {"Content-Type": "application/json", "Nudged-Signature": sig}
        self.assertEqual(self._raw_json("/v1/registrations/r-first/cancel", b"", h)[0], 202)
        time.sleep(3)  # a replay comes later than a client's own batch of cancels
        self.assert_refused(401, "bad_signature", lambda: self._raw_json(
            "/v1/registrations/r-other/cancel", b"", h))
        # A client cancelling several registrations at once signs them alike: all admitted.
        for rid in ("r-batch-1", "r-batch-2"):
            self.assertEqual(self.d.signed("/v1/registrations", registration(registration_id=rid))[0], 202)
        h = {"Content-Type": "application/json", "Nudged-Signature": nudged_signature(b"")}
        for rid in ("r-batch-1", "r-batch-2"):
            status, body = self._raw_json(f"/v1/registrations/{rid}/cancel", b"", h)[:2]
            self.assertEqual(status, 202, body)
        good = {"type": "session.scheduled", "data": dict(SESSION, session_id="s-batch", zoom_meeting_id="1")}
        bad = {"type": "registration.received",
               "data": dict(registration(registration_id="r-batch"), channels=["fax"])}
        body, _ = self.assert_refused(422, "invalid_field", lambda: self.d.signed(
            "/v1/events", {"events": [good, bad]}))
        self.assertEqual(body["error"]["field"], "events[1].data.channels[0]")
        # Both good: a registration may refer to a session earlier in the same batch.
        ok = {"type": "registration.received",
              "data": dict(registration(registration_id="r-batch"), session_id="s-batch")}
        status, body, _ = self.d.signed("/v1/events", {"events": [good, ok]})
        self.assertEqual(status, 202, body)
        self.assertEqual(len(body["events"]), 2)

    def test_too_large_is_413_before_the_body_is_read(self):
        before = self.count()
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000000\r\n\r\n")
            reply = s.recv(4096).decode()
        self.assertTrue(reply.startswith("HTTP/1.1 413"), reply)
        self.assertIn('"code":"too_large"', reply)
        self.assertEqual(self.count(), before)

    def test_a_client_still_sending_a_refused_body_reads_its_413(self):
        # http.client sends the whole body before it reads: the daemon must read and drop the
        # rest, or the client gets a reset (BrokenPipe) instead of the answer. It did, about
        # half the time, before connections lingered after their last answer.
        before = self.count()
        body = b"{" + b" " * 2_000_000 + b"}"
        for _ in range(10):
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
            c.request("POST", "/v1/registrations", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            self.assertEqual(r.status, 413)
            self.assertEqual(json.loads(r.read())["error"]["code"], "too_large")
            c.close()
        self.assertEqual(self.count(), before)

    def test_a_client_that_goes_on_sending_after_its_last_answer_is_cut_off(self):
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=10) as s:
            s.sendall(b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            answer = read_until_closed(s)  # the daemon shut its side after the answer
            self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:100])
            self.assertTrue(answer.endswith(b"}"), answer[-100:])
            started = time.monotonic()
            with self.assertRaises(OSError):  # a reset, once the daemon stops listening
                while time.monotonic() - started < 30:
                    s.sendall(b"x" * 1024)
                    time.sleep(0.1)
            lingered = time.monotonic() - started
        # The daemon read and dropped what came for a while (5 s), then closed for good.
        self.assertGreater(lingered, 2.0)
        self.assertLess(lingered, 15.0)
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)

    def test_a_lingering_connection_does_not_hold_up_shutdown(self):
        def refused():
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
            s.sendall(b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            self.assertTrue(read_until_closed(s).startswith(b"HTTP/1.1 413"))
            return s

        # A daemon shutting down does not wait for lingering connections.
        s = refused()
        try:
            started = time.monotonic()
            self.d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(self.d.proc.wait(timeout=10), 0)
            self.assertLess(time.monotonic() - started, 3.0)
        finally:
            s.close()
            self.d.start()

    def test_headers_too_large_or_too_many_is_431(self):
        for extra in (b"X-Big: " + b"a" * 17000 + b"\r\n",
                      b"".join(b"X-H%d: v\r\n" % i for i in range(120))):
            with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
                reply = s.recv(4096).decode()
            self.assertTrue(reply.startswith("HTTP/1.1 431"), reply[:200])

    def test_other_http_versions_are_505_and_other_transfer_codings_501(self):
        before = self.count()
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
            reply = s.recv(4096).decode()
        self.assertTrue(reply.startswith("HTTP/1.1 505"), reply[:200])
        self.assertIn('"code":"http_version_not_supported"', reply)
        # A signed registration, gzip-then-chunked: its body would reach the decoder still
        # compressed, so it is refused before it is read.
        body = json.dumps(registration(registration_id="r-gzip")).encode()
        compressed = gzip.compress(body)
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Nudged-Signature: " + nudged_signature(body).encode() + b"\r\n"
                      b"Transfer-Encoding: gzip, chunked\r\n\r\n" +
                      b"%x\r\n" % len(compressed) + compressed + b"\r\n0\r\n\r\n")
            reply = s.recv(4096).decode(errors="replace")
        self.assertTrue(reply.startswith("HTTP/1.1 501"), reply[:200])
        self.assertIn('"code":"not_implemented"', reply)
        self.assertEqual(self.count(), before)

    def test_slow_clients_get_408_and_cannot_hold_a_connection(self):
        before = self.count()
        results = {}

        def slow_headers():
            with socket.create_connection(("127.0.0.1", self.d.port), timeout=40) as s:
                start = time.time()
                s.sendall(b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\n")
                try:
                    # A trickle of header bytes does not restart the clock. The answer is
                    # looked for between bytes: after it the daemon reads and drops a while
                    # longer (lingering), so the sends alone would not show when it came.
                    for _ in range(30):
                        if select.select([s], [], [], 0)[0]:
                            break
                        s.sendall(b"X-Slow: 1\r\n")
                        time.sleep(0.5)
                except OSError:
                    pass
                results["headers"] = (s.recv(4096).decode(), time.time() - start)

        def slow_body():
            with socket.create_connection(("127.0.0.1", self.d.port), timeout=40) as s:
                start = time.time()
                body = json.dumps(registration()).encode()
                s.sendall(b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Nudged-Signature: " + nudged_signature(body).encode() +
                          b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
                results["body"] = (s.recv(4096).decode(), time.time() - start)

        threads = [threading.Thread(target=slow_headers), threading.Thread(target=slow_body)]
        for t in threads:
            t.start()
        # Meanwhile the server answers others at once.
        t0 = time.time()
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        self.assertLess(time.time() - t0, 1.0)
        for t in threads:
            t.join()
        reply, took = results["headers"]
        self.assertTrue(reply.startswith("HTTP/1.1 408"), reply)
        self.assertTrue(9 <= took <= 13, took)
        reply, took = results["body"]
        self.assertTrue(reply.startswith("HTTP/1.1 408"), reply)
        self.assertTrue(28 <= took <= 34, took)
        self.assertEqual(self.count(), before)

    def test_nothing_pipelined_after_connection_close_is_run(self):
        body = json.dumps(registration(registration_id="r-after-close")).encode()
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Nudged-Signature: " + nudged_signature(body).encode() +
                      b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            data = read_until_closed(s)
        self.assertEqual(data.count(b"HTTP/1.1"), 1, data)
        time.sleep(0.3)
        self.assertFalse([e for e in self.d.events() if e["type"] == "registration.received"
                          and e["data"]["registration_id"] == "r-after-close"])

    def test_pipelined_registrations_then_a_half_close_are_all_answered(self):
        # Registrations are answered after their commit, not at once: the second request (and
        # the end of the client's side) arrive while the first is still with the handler.
        bodies = [json.dumps(registration(registration_id=f"r-pipe-{i}")).encode() for i in range(2)]
        raw = b"".join(
            b"POST /v1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Nudged-Signature: " + nudged_signature(b).encode() +
            b"\r\nContent-Length: %d\r\n\r\n" % len(b) + b for b in bodies)
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=10) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            data = read_until_closed(s)
        self.assertEqual(data.count(b"HTTP/1.1 202"), 2, data)
        ids = [e["data"]["registration_id"] for e in self.d.events()
               if e["type"] == "registration.received"]
        self.assertLess(ids.index("r-pipe-0"), ids.index("r-pipe-1"))

    def test_keep_alive_and_pipelining(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=5)
        for _ in range(3):
            self.assertEqual(self.d.request("GET", "/healthz", conn=conn)[0], 200)
        conn.close()
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while data.count(b"HTTP/1.1 200") < 2:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        self.assertEqual(data.count(b"HTTP/1.1 200"), 2, data)
        # An idle keep-alive connection is closed after 5 s.
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
            start = time.time()
            self.assertEqual(s.recv(4096), b"")
            self.assertTrue(4 <= time.time() - start <= 7)

    def test_unknown_paths_and_methods(self):
        self.assertEqual(self.d.request("GET", "/nope")[0], 404)
        status, body, hdrs = self.d.request("GET", "/v1/registrations")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs["allow"], "POST")  # RFC 9110: a 405 says what the path takes
        self.assertEqual(json.loads(body)["error"]["message"], "this path takes only POST")
        status, _, hdrs = self.d.request("HEAD", "/v1/registrations")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs["allow"], "POST")
        status, _, hdrs = self.d.request("DELETE", "/v1/unsubscribe?token=x")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs["allow"], "GET, HEAD, POST")
        status, _, hdrs = self.d.request("POST", "/healthz")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs["allow"], "GET, HEAD")

    def test_head_is_get_without_the_body(self):
        # Uptime monitors often check with HEAD. The answer keeps GET's Content-Length and has
        # no body, so the next answer on the same connection is framed right.
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=5)
        for path in ("/healthz", "/readyz", "/metrics"):
            c.request("GET", path)
            r = c.getresponse()
            got = r.read()
            c.request("HEAD", path)
            h = c.getresponse()
            self.assertEqual(h.status, 200, path)
            self.assertEqual(h.read(), b"", path)
            if path != "/metrics":  # the counters move between the two requests
                self.assertEqual(int(h.getheader("Content-Length")), len(got), path)
        c.close()
        # Raw bytes: nothing follows the head of a HEAD answer before the next answer.
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=5) as s:
            s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = read_until_closed(s).decode()
        first, second = raw.split("HTTP/1.1 200", 2)[1:]
        self.assertTrue(first.endswith("\r\n\r\n"), raw)
        self.assertTrue(second.rstrip().endswith("}"), raw)
        self.assertEqual(raw.count("HTTP/1.1 200"), 2, raw)

    # --- health, readiness, metrics ---------------------------------------------------------

    def test_health_ready_metrics(self):
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        status, body, _ = self.d.request("GET", "/readyz")
        self.assertEqual(status, 200)
        self.d.signed("/v1/registrations", registration(session_id="missing"))
        status, body, hdrs = self.d.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        for name in ("nudged_events_appended_total", "nudged_http_requests_total",
                     "nudged_notifications_pending", "nudged_replay_duration_seconds",
                     "nudged_send_lateness_seconds_bucket", "nudged_notifications_sent_total"):
            self.assertIn(name, text)
        self.assertIn('nudged_http_requests_total{route="/v1/registrations",status="422"}', text)
        self.assertNotIn("ana@example.org", text)

    def test_events_appended_counts_the_outcomes_too(self):
        def appended():
            text = self.d.request("GET", "/metrics")[1].decode()
            return int(re.search(r"^nudged_events_appended_total (\d+)$", text, re.M).group(1))
        before = appended()
        status, body, _ = self.d.signed("/v1/registrations", registration(
            registration_id="r-metrics", channels=["email"], sms_consent=False, accommodations=[]))
        self.assertEqual(status, 202, body)
        deadline = time.time() + 30
        while not [e for e in self.d.events() if e["type"] == "notification.sent"
                   and "r-metrics" in e["data"]["notification_id"]]:
            self.assertLess(time.time(), deadline, "the confirmation was not recorded as sent")
            time.sleep(0.1)
        # The registration and its confirmation's outcome: both appended by this process.
        self.assertEqual(appended() - before, 2)

    # --- Zoom -------------------------------------------------------------------------------

    def zoom(self, payload, headers=None):
        body = json.dumps(payload).encode()
        h = zoom_headers(body)
        h.update(headers or {})
        status, data, hdrs = self.d.request("POST", "/v1/webhooks/zoom", body, h)
        return status, json.loads(data) if data else None, hdrs

    def zoom_registration(self, event, registrant_id, meeting=85746065432):
        return {
            "event": event,
            "event_ts": int(time.time() * 1000),
            "payload": {
                "account_id": "AAAAAABBBB",
                "object": {
                    "uuid": "4444AAAiAAAAAiAiAiiAii==", "id": meeting, "host_id": "x1yCzABCDEfg",
                    "topic": "IBD peer support", "type": 2, "start_time": "2030-05-01T23:00:00Z",
                    "duration": 90, "timezone": "America/New_York",
                    "registrant": {"id": registrant_id, "first_name": "Zoe", "last_name": "Sample",
                                   "email": "zoe@example.org", "status": "approved",
                                   "join_url": "https://zoom.example/w/555?tk=abc"},
                },
            },
        }

    def test_zoom_url_validation(self):
        status, body, _ = self.zoom({"payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
                                     "event_ts": 1654503849680, "event": "endpoint.url_validation"})
        self.assertEqual(status, 200)
        expected = hmac.new(ZOOM_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
        self.assertEqual(body, {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected})

    def test_zoom_registration_created_and_cancelled(self):
        status, body, _ = self.zoom(self.zoom_registration("meeting.registration_created", "abcdefghij0-klm"))
        self.assertEqual(status, 202, body)
        reg = [e for e in self.d.events() if e["type"] == "registration.received"
               and e["data"]["registration_id"] == "zoom-abcdefghij0-klm"]
        self.assertEqual(len(reg), 1)
        self.assertEqual(reg[0]["data"]["session_id"], "s-ibd-1")
        self.assertEqual(reg[0]["data"]["participant"]["name"], "Zoe Sample")
        self.assertEqual(reg[0]["meta"]["source"], "webhook:zoom")
        # Zoom retries: nothing new.
        before = self.count()
        self.assertEqual(self.zoom(self.zoom_registration("meeting.registration_created", "abcdefghij0-klm"))[0], 202)
        self.assertEqual(self.count(), before)
        status, body, _ = self.zoom(self.zoom_registration("meeting.registration_cancelled", "abcdefghij0-klm"))
        self.assertEqual(status, 202, body)
        self.assertEqual(self.count(), before + 1)

    def test_zoom_refusals(self):
        self.assert_refused(422, "unknown_session", lambda: self.zoom(
            self.zoom_registration("meeting.registration_created", "r2", meeting=999)))
        self.assertIn("zoom: registration for meeting 999", self.d.read_log())
        self.assert_refused(401, "bad_signature", lambda: self.zoom(
            self.zoom_registration("meeting.registration_created", "r3"),
            {"x-zm-signature": "v0=" + "0" * 64}))
        old = str(int(time.time()) - 3600)
        payload = self.zoom_registration("meeting.registration_created", "r4")
        body = json.dumps(payload).encode()
        self.assert_refused(401, "bad_signature", lambda: self._raw_json(
            "/v1/webhooks/zoom", body, zoom_headers(body, t=old)))

    def test_deeply_nested_json_is_400_and_harms_nothing(self):
        # Copying a deeply nested value recurses once per level: 32,000 levels in the default
        # 64 KiB body overflowed the stack. Refused before it is parsed, with nothing appended
        # (2,000 levels here, within this server's 4 KiB max_body).
        deep = "[" * 2000 + "]" * 2000
        body = ('{"reason":' + deep + "}").encode()
        reply, _ = self.assert_refused(400, "malformed", lambda: self.d.signed(
            "/v1/registrations/no-such-registration/cancel", body))
        self.assertIn("64 levels", reply["error"]["message"])
        body = ('{"event":"meeting.registration_created","payload":' + deep + "}").encode()
        status, data, _ = self.d.request("POST", "/v1/webhooks/zoom", body, zoom_headers(body))
        self.assertEqual(status, 400, data)
        self.assertEqual(json.loads(data)["error"]["code"], "malformed")
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        self.assertIsNone(self.d.proc.poll())

    def test_a_reset_while_answers_are_written_costs_only_that_connection(self):
        # A client that pipelines and then resets: the daemon's write fails with EPIPE or
        # ECONNRESET. SIGPIPE is not ignored for the daemon here (Popen restores it), as
        # outside systemd: it must not end the process.
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2000)
            s.recv(1)  # the daemon is answering
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST
        time.sleep(0.5)
        self.assertIsNone(self.d.proc.poll(), self.d.read_log()[-2000:])
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)

    def test_a_client_that_does_not_read_its_answers_is_held_back_then_dropped(self):
        def rss_kib():
            with open(f"/proc/{self.d.proc.pid}/status") as f:
                return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"  # ~2 KB answered for 36 sent
        rss_before = rss_kib()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", self.d.port))
        s.setblocking(False)
        # Pipeline without reading until the daemon stops taking bytes for a second. Unbounded,
        # it would go on reading and queue 2 KB of answer per 36 bytes sent. Bounded, it takes
        # what the kernel buffers (the daemon's receive buffer grows up to tcp_rmem's maximum).
        with open("/proc/sys/net/ipv4/tcp_rmem") as f:
            rmem_max = int(f.read().split()[2])
        # Also stop after 20 s: a daemon that takes a little now and then (as its answers reach
        # the kernel's buffers, whose sizes the kernel tunes) is bounded too, and a loop that
        # only ends on a second of stall could run until ctest kills the whole file.
        out, sent, stalled, cap = request * 4096, 0, None, 2 * rmem_max + (8 << 20)
        deadline = time.monotonic() + 20
        while sent < cap and time.monotonic() < deadline:
            try:
                n = s.send(out)
                sent += n
                out = out[n:] or request * 4096
                stalled = None
            except BlockingIOError:
                stalled = stalled or time.monotonic()
                if time.monotonic() - stalled > 1.0:
                    break
                time.sleep(0.01)
        self.assertLess(sent, cap, "the daemon kept reading from a client that does not read")
        # Unbounded, this is gigabytes; bounded, a few MB in a release build and tens of MB
        # under AddressSanitizer, whose quarantine keeps freed memory (up to 256 MB) a while.
        grown = rss_kib() - rss_before
        self.assertLess(grown, 200 * 1024, f"resident memory grew by {grown} KiB")
        # Others are served meanwhile.
        t0 = time.monotonic()
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        self.assertLess(time.monotonic() - t0, 2.0)
        # Answers that cannot get out for 10 s: the connection is closed. Reading then finds
        # what the kernel had taken, then the end, rather than every answer. The 10 s run from
        # when the daemon's writes stopped getting out, which on a loaded machine (a sanitizer
        # build, other tests beside it) can be well after the sends above stopped: wait for the
        # close itself (the socket leaves ESTABLISHED on the daemon's FIN or RST), not a fixed
        # time, or reading too early lets the answers flow again.
        def tcp_state():
            return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        established = 1
        deadline = time.monotonic() + 90
        time.sleep(9)
        while tcp_state() == established and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertNotEqual(tcp_state(), established,
                            "still open 90 s after its answers stopped getting out")
        s.setblocking(True)
        s.settimeout(20)
        data, ended = b"", False
        try:
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    ended = True
                    break
                data += chunk
        except ConnectionResetError:
            ended = True
        s.close()
        self.assertTrue(ended)
        self.assertLess(data.count(b"HTTP/1.1 200"), sent // len(request))
        self.assertIsNone(self.d.proc.poll())

    # --- Twilio -----------------------------------------------------------------------------

    def twilio(self, params, signature=None, url=TWILIO_URL):
        body = urllib.parse.urlencode(params).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": signature or twilio_signature(params, url),
             "User-Agent": "TwilioProxy/1.1"}
        return self.d.request("POST", "/v1/webhooks/twilio/sms", body, h)

    def sms(self, text, sid="SM" + "1" * 32):
        return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
                "SmsStatus": "received", "Body": text, "To": "+15555550100", "NumSegments": "1",
                "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+14155550177",
                "ApiVersion": "2010-04-01"}

    def test_twilio_stop_start_help(self):
        before = self.count()
        status, body, hdrs = self.twilio(self.sms("Stop", sid="SM" + "a" * 32))
        self.assertEqual(status, 200, body)
        self.assertTrue(hdrs["content-type"].startswith("text/xml"))
        self.assertIn(b"<Response>", body)
        events = [e for e in self.d.events() if not e["type"].startswith("notification.")]
        self.assertEqual(len(events), before + 1)
        self.assertEqual(events[-1]["type"], "participant.opted_out")
        self.assertEqual(events[-1]["data"], {"channel": "sms", "address": "+14155550177"})
        # Twilio retries the same MessageSid: nothing new.
        self.twilio(self.sms("Stop", sid="SM" + "a" * 32))
        self.assertEqual(self.count(), before + 1)
        status, body, _ = self.twilio(self.sms("START", sid="SM" + "b" * 32))
        self.assertEqual(status, 200)
        self.assertEqual([e for e in self.d.events() if not e["type"].startswith("notification.")][-1]["type"],
                         "participant.opted_in")
        status, body, _ = self.twilio(self.sms("help", sid="SM" + "c" * 32))
        self.assertIn(b"<Message>", body)
        self.assertEqual(self.count(), before + 2)
        # One sid for STOP then START (a fixture, a replayed capture): two facts, both TwiML.
        for text, kind in (("STOP", "participant.opted_out"), ("START", "participant.opted_in")):
            status, body, hdrs = self.twilio(self.sms(text, sid="SM" + "d" * 32))
            self.assertEqual(status, 200, body)
            self.assertTrue(hdrs["content-type"].startswith("text/xml"))
            self.assertEqual([e for e in self.d.events()
                              if not e["type"].startswith("notification.")][-1]["type"], kind)
        self.assertEqual(self.count(), before + 4)

    def test_twilio_bad_signature_is_401(self):
        before = self.count()
        status, body, _ = self.twilio(self.sms("STOP"), signature="bm90IGEgc2lnbmF0dXJl")
        self.assertEqual(status, 401)
        status, body, _ = self.twilio(self.sms("STOP"), url="https://attacker.example/sms")
        self.assertEqual(status, 401)
        self.assertEqual(self.count(), before)

    # --- unsubscribe ------------------------------------------------------------------------

    def test_unsubscribe_one_click(self):
        status, body, _ = self.d.signed("/v1/registrations", registration(registration_id="r-unsub"))
        self.assertEqual(status, 202)
        # The token is in the confirmation email's List-Unsubscribe header.
        outbox = os.path.join(self.d.dir, "outbox", "email")
        deadline = time.time() + 10
        token = None
        while token is None and time.time() < deadline:
            for name in os.listdir(outbox) if os.path.isdir(outbox) else []:
                if "r-unsub" in name and not name.startswith("."):  # not a file being written
                    text = open(os.path.join(outbox, name)).read()
                    start = text.find("/v1/unsubscribe?token=")
                    if start >= 0:
                        token = text[start + len("/v1/unsubscribe?token="):].split(">")[0].split()[0]
            time.sleep(0.1)
        self.assertIsNotNone(token, f"no unsubscribe link in the confirmation: {os.listdir(outbox)}")
        before = self.count()
        status, body, _ = self.d.request("GET", "/v1/unsubscribe?token=" + token)
        self.assertEqual(status, 200)
        self.assertIn(b"<form method=\"post\"", body)
        self.assertEqual(self.count(), before, "GET must not unsubscribe (link scanners)")
        # A mail client's one-click POST (no text/html in Accept): 202 and JSON, once durable.
        status, body, hdrs = self.d.request("POST", "/v1/unsubscribe?token=" + token,
                                            b"List-Unsubscribe=One-Click",
                                            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 202, body)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(json.loads(body)["opted_out"], True)
        events = [e for e in self.d.events() if not e["type"].startswith("notification.")]
        self.assertEqual(events[-1]["type"], "participant.opted_out")
        self.assertEqual(events[-1]["data"], {"channel": "email", "address": "ana@example.org"})
        # The form's POST from a browser: a page; already opted out, nothing more appended.
        before = self.count()
        status, body, hdrs = self.d.request(
            "POST", "/v1/unsubscribe?token=" + token, b"",
            {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        self.assertEqual(status, 200)
        self.assertIn("text/html", hdrs["content-type"])
        self.assertEqual(self.count(), before)
        forged = token[:-1] + ("1" if token.endswith("0") else "0")
        status, body, _ = self.d.request("POST", "/v1/unsubscribe?token=" + forged)
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "bad_token")
        status, body, _ = self.d.request("GET", "/v1/unsubscribe?token=" + forged,
                                         headers={"Accept": "text/html"})
        self.assertEqual(status, 401)
        self.assertIn(b"This link does not work", body)

    # --- admin socket and nudgectl ------------------------------------------------------------

    def test_admin_socket(self):
        mode = stat.S_IMODE(os.stat(self.d.socket).st_mode)
        self.assertEqual(mode, 0o660)
        out = json.loads(self.d.ctl("status", via=("--socket", self.d.socket)).stdout)
        self.assertTrue(out["ready"])
        out = json.loads(self.d.ctl("sessions", via=("--socket", self.d.socket)).stdout)
        self.assertIn("s-ibd-1", [s["session_id"] for s in out["sessions"]])
        self.assertNotIn("ana@example.org", json.dumps(out))
        out = json.loads(self.d.ctl("schedule").stdout)
        self.assertIn("plan", out)
        # Import goes through the daemon while it runs.
        line = json.dumps({"id": "evt-admin-import-1", "type": "session.scheduled",
                           "data": dict(SESSION, session_id="s-imported", zoom_meeting_id="2")})
        r = self.d.ctl("events", "import", "-", input=line + "\nnot json\n", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1: appended at position", r.stdout)
        self.assertIn("line 2: error", r.stdout)
        self.assertIn("through the daemon", r.stderr)
        r = self.d.ctl("events", "import", "-", input=line + "\n")
        self.assertIn("line 1: duplicate of position", r.stdout)
        # A series new to the log is checked as over HTTP: FREQ=HOURLY would be 24 meetings a
        # day with one id each day; a first_starts_at the rule does not give would vanish.
        series = {"series_id": "s-hourly", "group": "g", "title": "T", "rrule": "FREQ=HOURLY",
                  "first_starts_at": "2030-05-07T19:00:00-04:00", "time_zone": "America/New_York",
                  "duration_minutes": 60, "join_url": "https://zoom.example/j/1",
                  "facilitators": []}
        unsynced = dict(series, series_id="s-unsynced", rrule="FREQ=WEEKLY;BYDAY=MO,WE")
        good = dict(series, series_id="s-good", rrule="FREQ=WEEKLY;BYDAY=TU")
        lines = [json.dumps({"id": f"evt-admin-series-{i}", "type": "series.scheduled",
                             "data": data}) for i, data in enumerate([series, unsynced, good])]
        r = self.d.ctl("events", "import", "-", input="\n".join(lines) + "\n", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("line 1: error: data.rrule: must give at most one meeting a day", r.stdout)
        self.assertIn("line 2: error: data.first_starts_at: is not a meeting of the rule",
                      r.stdout)
        self.assertIn("line 3: appended at position", r.stdout)
        self.assertNotIn("s-hourly", json.dumps(self.d.events()))
        r = self.d.ctl("events", "import", "-", input=lines[2] + "\n")
        self.assertIn("line 1: duplicate of position", r.stdout)
        # Straight to the files (--db) while the daemon runs: the daemon is the only maker of
        # keys, so this is refused before anything is written.
        count = len(self.d.events())
        direct = json.dumps({"id": "evt-direct-1", "type": "session.scheduled",
                             "data": dict(SESSION, session_id="s-direct", zoom_meeting_id="3")})
        r = self.d.ctl("events", "import", "-", input=direct + "\n", check=False,
                       via=("--db", os.path.join(self.d.dir, "state", "nudged.db")))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("another process is making keys", r.stderr)
        self.assertEqual(len(self.d.events()), count)
        # Erase through the daemon.
        someone = registration(registration_id="r-erase")
        someone["participant"] = {"name": "Zoe", "email": "zoe@example.org"}
        pid = self.d.signed("/v1/registrations", someone)[1]["participant_id"]
        r = self.d.ctl("erase", "--participant", pid)
        self.assertIn("erased", r.stdout)
        erased = [e for e in self.d.events() if e["type"] == "participant.erased"]
        self.assertEqual([e["data"]["participant_id"] for e in erased], [pid])
        r = self.d.ctl("erase", "--participant", "p-nobody", check=False)
        self.assertEqual(r.returncode, 1)


    def test_a_large_import_leaves_the_loop_free_for_others(self):
        # 300,000 lines in one request to the admin socket (nudgectl sends 2,000 a request; a
        # script may send a whole file): they are checked a few milliseconds at a time, so a
        # request made meanwhile is answered before the import is done, not after it. Bad
        # lines (each refused, nothing appended) and a few good ones.
        good = [json.dumps({"id": f"evt-bulk-{i}", "type": "session.scheduled", "data": dict(
            SESSION, session_id=f"s-bulk-{i}", zoom_meeting_id=f"9{i}")}) for i in range(3)]
        lines = ["not json"] * 300000
        for i, line in enumerate(good):
            lines[100000 * i + 1] = line
        body = ("\n".join(lines) + "\n").encode()
        finished = {}

        def run_import():
            conn = UnixHTTPConnection(self.d.socket)
            conn.timeout = 240
            conn.request("POST", "/v1/admin/events", body=body,
                         headers={"Content-Type": "application/x-ndjson"})
            r = conn.getresponse()
            finished["status"], finished["body"] = r.status, json.loads(r.read())
            finished["at"] = time.monotonic()
            conn.close()
        t = threading.Thread(target=run_import)
        t.start()
        time.sleep(0.5)  # the body is sent by then (a few MB over a local socket)
        asked = time.monotonic()
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        answered = time.monotonic()
        t.join(timeout=250)
        self.assertEqual(finished["status"], 200)
        results = finished["body"]["results"]
        self.assertEqual(len(results), 300000)
        self.assertEqual([r["line"] for r in results if "position" in r], [2, 100002, 200002])
        self.assertEqual(sum(1 for r in results if "error" in r), 300000 - 3)
        # Answered in a slice's time, not when the lines were all checked (which the import's
        # answer follows by a commit's time): well within half of what the import still took.
        self.assertLess(answered - asked, (finished["at"] - asked) / 2,
                        "/healthz waited for the whole import")

class DurabilityTest(unittest.TestCase):
    """What needs a daemon of its own: restarts, a long replay, a locked store."""

    def setUp(self):
        self.d = Daemon()

    def tearDown(self):
        self.d.close()

    def test_idempotency_survives_a_restart(self):
        self.d.start()
        self.assertEqual(self.d.signed("/v1/events", {"type": "session.scheduled", "data": SESSION})[0], 202)
        h = {"Idempotency-Key": "retry-after-restart"}
        first = self.d.signed("/v1/registrations", registration(), headers=h)
        self.assertEqual(first[0], 202)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        # Not counting outcomes: the first confirmation may be recorded meanwhile.
        def appended():
            return [e for e in self.d.events() if not e["type"].startswith("notification.")]
        before = len(appended())
        again = self.d.signed("/v1/registrations", registration(), headers=h)
        self.assertEqual((again[0], again[1]), (first[0], first[1]))
        self.assertEqual(len(appended()), before)

    def test_readyz_is_503_until_replay_is_done(self):
        # A log long enough that replay takes a while, written offline before the start.
        lines = [json.dumps({"type": "participant.opted_in",
                             "data": {"channel": "email", "address": f"n{i}@example.org"}})
                 for i in range(60000)]
        self.d.ctl("events", "import", "-", input="\n".join(lines) + "\n", timeout=300)
        env = dict(os.environ)
        with open(self.d.log_path, "a") as log:
            self.d.proc = subprocess.Popen([NUDGED, "--config", self.d.config], stdout=log,
                                           stderr=log, env=env)
        seen = []
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                status, body, hdrs = self.d.request("GET", "/readyz")
            except OSError:
                time.sleep(0.005)
                continue
            seen.append(status)
            if status == 503:
                self.assertEqual(hdrs.get("retry-after"), "1")
                self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
                # Routes that need State say so too (unless replay finished meanwhile).
                s, b, _ = self.d.signed("/v1/registrations", registration())
                if s == 503:
                    self.assertEqual(b["error"]["code"], "not_ready")
            if status == 200:
                break
            time.sleep(0.005)
        self.assertIn(503, seen, "replay finished before the first /readyz answer")
        self.assertEqual(seen[-1], 200)

    def test_503_with_retry_after_when_the_store_cannot_write(self):
        import sqlite3
        self.d.start()
        self.assertEqual(self.d.signed("/v1/events", {"type": "session.scheduled", "data": SESSION})[0], 202)
        before = len(self.d.events())
        db = sqlite3.connect(os.path.join(self.d.dir, "state", "nudged.db"), timeout=1,
                             isolation_level=None)
        db.execute("BEGIN IMMEDIATE")  # holds the write lock: the daemon's writer waits, then gives up
        try:
            status, body, hdrs = self.d.signed("/v1/registrations", registration(registration_id="r-busy"))
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "unavailable")
        self.assertIn("retry-after", hdrs)
        self.assertEqual(len(self.d.events()), before)
        # And once the lock is gone, the same request goes through.
        self.assertEqual(self.d.signed("/v1/registrations", registration(registration_id="r-busy"))[0], 202)

    def test_admin_reload(self):
        self.d.start()
        conn = UnixHTTPConnection(self.d.socket)
        conn.request("POST", "/v1/admin/reload", body=b"", headers={"Content-Length": "0"})
        r = conn.getresponse()
        self.assertEqual((r.status, json.loads(r.read())), (200, {"reloaded": True}))
        with open(self.d.config, "a") as f:
            f.write("\n[nonsense]\n")
        conn.request("POST", "/v1/admin/reload", body=b"", headers={"Content-Length": "0"})
        r = conn.getresponse()
        body = json.loads(r.read())
        self.assertEqual(r.status, 422)
        self.assertIn("nonsense", body["error"]["message"])
        conn.close()
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)  # the old config still runs


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


class SocketActivationTest(unittest.TestCase):
    def test_listens_on_the_socket_systemd_passes(self):
        d = Daemon()
        try:
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            fd = listener.fileno()
            d.port = listener.getsockname()[1]
            # As systemd does: the socket as fd 3, LISTEN_FDS=1, and LISTEN_PID the daemon's
            # own pid (a shell's $$ stays the pid across exec).
            d.start(extra_env={"LISTEN_FDS": "1"}, pass_fds=(3,),
                    preexec_fn=lambda: os.dup2(fd, 3),
                    argv_prefix=("/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"))
            status, body, _ = d.request("GET", "/healthz")
            self.assertEqual(status, 200)
            self.assertIn("socket(s) from systemd", d.read_log())
            self.assertEqual(d.stop(), 0)
        finally:
            listener.close()
            d.close()


def main():
    global NUDGED, NUDGECTL
    parser = argparse.ArgumentParser()
    parser.add_argument("--nudged", required=True)
    parser.add_argument("--nudgectl", required=True)
    args, rest = parser.parse_known_args()
    NUDGED, NUDGECTL = os.path.abspath(args.nudged), os.path.abspath(args.nudgectl)
    # Twice (CI, ASan, under ctest) this file has hung past ctest's 300 s right after the 413
    # test, and never when run again: before ctest kills it, print where every thread is.
    faulthandler.dump_traceback_later(280, exit=True)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
