#!/usr/bin/python3
"""End-to-end tests of the real channels: the nudged binary sending email to a real SMTP
server (aiosmtpd, with and without STARTTLS) and SMS to a loopback stand-in for Twilio's
Messages API.

Run by ctest as:
  channels_test.py --nudged PATH --nudgectl PATH

Everything runs on 127.0.0.1 with ports picked free. Confirmations are due at once, so each
test imports a session and registrations and watches the outcomes in the log.
"""
import argparse
import base64
import datetime as dt
import email
import email.policy
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zoneinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

NUDGED = NUDGECTL = None
SID, TOKEN = "ACe2e0000000000000000000000000000", "twilio-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


# --- the SMTP server ------------------------------------------------------------------------

class MailHandler:
    """Accepts mail, except: bounce@ -> 550, busy@ -> 451 (then accepted on a retry)."""

    def __init__(self):
        self.messages = []  # (envelope recipients, raw bytes, was TLS)
        self.busy_seen = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce@"):
            # Relays quote names and numbers too; none of it may be recorded or logged.
            return (f"550 5.1.1 <{address}>: Recipient address rejected: no mailbox for "
                    "Gina Bounce, +1 415 555 0199")
        if address.startswith("busy@"):
            with self.lock:
                self.busy_seen += 1
                if self.busy_seen == 1:
                    return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.original_content,
                                  session.ssl is not None))
        return "250 Message accepted"

    def to(self, address):  # however the address was capitalised
        with self.lock:
            return [m for m in self.messages
                    if address.lower() in [a.lower() for a in m[0]]]


def make_cert(directory):
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


class SilentAfterData:
    """A bare SMTP server that, on the connections listed in `hang`, takes a message's DATA and
    then never answers (nor reads anything more: a QUIT goes unanswered too), like a mail server
    that hung. Other connections answer every message with 250. Counts connections (from 1) and
    the messages answered."""

    def __init__(self, hang=(1,)):
        self.hang = set(hang)
        self.connections = 0
        self.accepted = []  # (connection number, recipient)
        self.hung = threading.Event()  # a message's end went unanswered
        self.release = threading.Event()  # set at the end: hung connections close
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self.serve, args=(conn, number), daemon=True).start()

    def serve(self, conn, number):
        rcpt = None
        try:
            f = conn.makefile("rb")
            conn.sendall(b"220 silent ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                command = line.decode(errors="replace").strip().upper()
                if command.startswith("EHLO"):
                    conn.sendall(b"250-silent\r\n250 8BITMIME\r\n")
                elif command.startswith("RCPT"):
                    rcpt = line.decode(errors="replace").split(":", 1)[1].strip().strip("<>")
                    conn.sendall(b"250 OK\r\n")
                elif command.startswith("DATA"):
                    conn.sendall(b"354 go ahead\r\n")
                    while True:
                        data = f.readline()
                        if not data or data == b".\r\n":
                            break
                    if number in self.hang:
                        self.hung.set()
                        self.release.wait(300)
                        return
                    with self.lock:
                        self.accepted.append((number, rcpt))
                    conn.sendall(b"250 queued\r\n")
                elif command.startswith("QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.release.set()
        self.sock.close()


# --- the Twilio stand-in ----------------------------------------------------------------------

class FakeTwilio:
    """Answers by the To number. Records every request: (monotonic time, path, auth, form)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at the end: hung requests return
        self.behaviour = {}  # number -> list of responses, the last one repeating
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                with fake.lock:
                    fake.requests.append((time.monotonic(), self.path,
                                          self.headers.get("Authorization"),
                                          self.headers.get("Content-Type"), form))
                    plan = fake.behaviour.get(form.get("To"), [("201",)])
                    n = len([r for r in fake.requests if r[4].get("To") == form.get("To")])
                    step = plan[min(n, len(plan)) - 1]
                if step[0] == "hang":
                    fake.release.wait(60)
                    return
                status, payload, headers = int(step[0]), step[1] if len(step) > 1 else None, \
                    step[2] if len(step) > 2 else {}
                if payload is None:
                    payload = {"sid": "SM" + form.get("To", "").lstrip("+"), "status": "queued"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, number):
        with self.lock:
            return [r for r in self.requests if r[4].get("To") == number]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --- the daemon -----------------------------------------------------------------------------

CONFIG = """
[daemon]
state_dir = "{dir}/state"
listen = "127.0.0.1:{listen}"
admin_socket = "{dir}/admin.sock"
public_url = "https://reminders.example.org"
log_level = "trace"

[channels.email]
kind = "smtp"
url = "smtp://127.0.0.1:{smtp}"
from = "Peer Support <meetings@example.org>"
tls = "{tls}"
timeout = "{smtp_timeout}"
{ca}

[channels.sms]
kind = "twilio"
api_base = "http://127.0.0.1:{twilio}"
account_sid = "{sid}"
auth_token_file = "{dir}/twilio-token"
from = "+15005550006"
timeout = "{sms_timeout}"

[policy]
email_reminders = []
sms_reminders = []
quiet_hours = ""
late_grace = "30s"

[groups.soon]
email_reminders = ["595s"]
sms_reminders = ["595s"]
"""


class Daemon:
    def __init__(self, case, smtp_port, twilio_port, tls="opportunistic", ca_file=None,
                 sms_timeout="3s", smtp_timeout="5s", extra=""):
        self.case = case
        self.tmp = tempfile.TemporaryDirectory(prefix="nudged-channels-")
        self.dir = self.tmp.name
        self.config = os.path.join(self.dir, "nudged.toml")
        with open(os.path.join(self.dir, "twilio-token"), "w") as f:
            f.write(TOKEN + "\n")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(dir=self.dir, listen=free_port(), smtp=smtp_port,
                                  twilio=twilio_port, sid=SID, tls=tls, sms_timeout=sms_timeout,
                                  smtp_timeout=smtp_timeout,
                                  ca=f'ca_file = "{ca_file}"' if ca_file else "") + extra)
        self.log = open(os.path.join(self.dir, "daemon.log"), "a")
        self.proc = None

    def ctl(self, *args, input=None):
        r = subprocess.run([NUDGECTL, "--config", self.config, *args], input=input,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"nudgectl {args} failed: {r.stdout}{r.stderr}")
        return r

    def import_events(self, *events):
        self.ctl("events", "import", "-", input="\n".join(json.dumps(e) for e in events) + "\n")

    def start(self):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([NUDGED, "--config", self.config], stdout=self.log,
                                     stderr=self.log)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=30)
        return None

    def read_log(self):
        self.log.flush()
        with open(os.path.join(self.dir, "daemon.log")) as f:
            return f.read()

    def events(self, type_=None):
        out = self.ctl("events", "export").stdout
        evs = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [e for e in evs if type_ is None or e["type"] == type_]

    def outcomes_for(self, prefix):
        return [e for e in self.events()
                if e["type"].startswith("notification.")
                and e["data"]["notification_id"].startswith(prefix)]

    def wait_for(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n--- daemon log ---\n"
                             + self.read_log())

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


def session(sid, starts, title="Café des aidants", zone="America/New_York"):
    return {"type": "session.scheduled", "data": {
        "session_id": sid, "group": "general", "title": title, "starts_at": utc(starts),
        "time_zone": zone, "duration_minutes": 60, "join_url": "https://zoom.example.org/j/1",
        "facilitators": []}}


def registration(rid, sid, email_=None, phone=None):
    channels = (["email"] if email_ else []) + (["sms"] if phone else [])
    participant = {"name": "Riley Morgan"}
    if email_:
        participant["email"] = email_
    if phone:
        participant["phone"] = phone
    return {"type": "registration.received", "data": {
        "registration_id": rid, "session_id": sid, "participant": participant,
        "channels": channels, "sms_consent": phone is not None, "accommodations": []}}


PERSONAL = ("Riley", "riley@example.org", "bounce@example.org", "busy@example.org", "Gina",
            "555 0199",
            "+14155550142", "4155550142", "4155550143", "4155550144", "4155550145",
            "4155550146", "4155550147", "4155550148")


class ChannelsTest(unittest.TestCase):
    def setUp(self):
        self.mail = MailHandler()
        self.smtp_port = free_port()
        self.twilio = FakeTwilio()
        self.controllers = []

    def tearDown(self):
        for c in self.controllers:
            c.stop()
        self.twilio.close()

    def smtp(self, **kwargs):
        c = Controller(self.mail, hostname="127.0.0.1", port=self.smtp_port, **kwargs)
        c.start()
        self.controllers.append(c)

    def test_email_and_sms_outcomes_retries_opt_out_and_a_hung_provider(self):
        self.smtp()  # no STARTTLS on offer: tls = "opportunistic" goes on in plain text
        t = self.twilio
        t.behaviour = {
            "+14155550143": [("400", {"code": 21211, "message": "The 'To' number +14155550143 "
                                                                "(Gina Bounce) is not a valid "
                                                                "phone number."})],
            "+14155550144": [("400", {"code": 21610, "message": "Attempt to send to "
                                                                "unsubscribed recipient"})],
            "+14155550145": [("429", {"code": 20429}, {"Retry-After": "14"}), ("201",)],
            "+14155550146": [("500", {"code": 20500}), ("201",)],
            "+14155550147": [("hang",)],
            # A bad token: Twilio's answer for every text. Transient (the operator fixes the
            # token, the text goes out), not permanent (every text owed thrown away).
            "+14155550148": [("401", {"code": 20003, "message": "Authenticate",
                                      "status": 401}), ("201",)],
        }
        d = Daemon(self, self.smtp_port, t.port)
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
        d.import_events(
            session("s1", start),
            registration("r1", "s1", "riley@example.org", "+1 415 555 0142"),
            registration("r2", "s1", phone="+14155550143"),
            registration("r3", "s1", phone="+14155550144"),
            registration("r4", "s1", phone="+14155550145"),
            registration("r5", "s1", phone="+14155550146"),
            registration("r6", "s1", "bounce@example.org"),
            registration("r7", "s1", "busy@example.org"),
            registration("r8", "s1", "hung@example.org", "+14155550147"),
            registration("r9", "s1", phone="+14155550148"))
        d.start()

        # A hung SMS provider stalls neither email nor the other SMS: every email and every
        # answered SMS has its outcome in the log before the hung request's 3 s timeout fails
        # it. Judged by log order (the writer keeps submission order), not by wall time, which
        # a loaded machine stretches. The SMS go out together on separate connections, so the
        # hung one may reach the stand-in before or after the others: no order is assumed.
        d.wait_for(lambda: self.mail.to("hung@example.org") and self.mail.to("riley@example.org")
                   and t.to("+14155550142") and t.to("+14155550143")
                   and t.to("+14155550147"), timeout=20,
                   what="email, the answered SMS and the hung request")
        self.assertEqual(len(t.to("+14155550147")), 1)
        hung = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r8:sms")
                                   if e["type"] == "notification.failed"], 20, "the hung SMS")
        self.assertFalse(hung[0]["data"]["permanent"])
        self.assertIn("twilio:", hung[0]["data"]["error"])
        sent_r8 = [e for e in d.outcomes_for("registration.confirmation:r8")
                   if e["type"] == "notification.sent"]
        self.assertEqual(sent_r8[0]["data"]["channel"], "email")
        first = {}
        for e in d.outcomes_for("registration.confirmation:"):
            first.setdefault(e["data"]["notification_id"], e["position"])
        others = [n for n in first if n != hung[0]["data"]["notification_id"]]
        self.assertEqual(len(others), 10)  # r1 email and SMS, r2-r5 and r9 SMS, r6-r8 email
        for n in others:
            self.assertLess(first[n], hung[0]["position"], n)

        # The exact Twilio request.
        at, path, auth, ctype, form = t.to("+14155550142")[0]
        self.assertEqual(path, f"/2010-04-01/Accounts/{SID}/Messages.json")
        self.assertEqual(auth, "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode())
        self.assertEqual(ctype, "application/x-www-form-urlencoded")
        self.assertEqual(set(form), {"To", "From", "Body"})
        self.assertEqual(form["To"], "+14155550142")  # normalised to E.164
        self.assertEqual(form["From"], "+15005550006")
        self.assertIn("registered for", form["Body"])
        sent = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r1:sms")
                                   if e["type"] == "notification.sent"], 20, "r1 sms sent")
        self.assertEqual(sent[0]["data"]["provider_id"], "SM14155550142")

        # 21211: permanent, recorded once, without the number.
        failed = d.wait_for(lambda: d.outcomes_for("registration.confirmation:r2"), 20, "r2")
        self.assertEqual(len(failed), 1)
        self.assertTrue(failed[0]["data"]["permanent"])
        self.assertEqual(failed[0]["data"]["error"],
                         "twilio: HTTP 400, error 21211: the phone number is not valid")

        # 21610: permanent, and the number is recorded as opted out of SMS.
        opted = d.wait_for(lambda: d.events("participant.opted_out"), 20, "opt-out event")
        self.assertEqual(len(opted), 1)
        self.assertEqual(opted[0]["data"]["channel"], "sms")
        r3 = d.outcomes_for("registration.confirmation:r3")
        self.assertEqual(len(r3), 1)
        self.assertTrue(r3[0]["data"]["permanent"])
        full = [json.loads(line) for line in d.ctl("events", "export",
                                                   "--include-personal-data").stdout.splitlines()
                if '"participant.opted_out"' in line]
        self.assertEqual(full[0]["data"]["address"], "+14155550144")

        # SMTP 550: permanent, recorded once, with the codes and our words for them, not the
        # server's (which name the person), neither in the event nor in its export.
        bounce = d.wait_for(lambda: d.outcomes_for("registration.confirmation:r6"), 20, "r6")
        self.assertEqual(len(bounce), 1)
        self.assertTrue(bounce[0]["data"]["permanent"])
        self.assertEqual(bounce[0]["data"]["error"],
                         "smtp: 550, 5.1.1: the mailbox does not exist")
        exported = d.ctl("events", "export").stdout
        for secret in ("Gina", "0199", "bounce@", "Recipient address rejected"):
            self.assertNotIn(secret, exported)

        # SMTP 451 and HTTP 500: transient, retried after the backoff (10 s +-20%); HTTP 429
        # with Retry-After: 14 waits the 14 s the provider asked for.
        busy = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r7")
                                   if e["type"] == "notification.sent"], 25, "busy mail retried")
        r7 = d.outcomes_for("registration.confirmation:r7")
        self.assertEqual([e["type"] for e in r7], ["notification.failed", "notification.sent"])
        self.assertFalse(r7[0]["data"]["permanent"])
        self.assertIn("451, 4.3.0", r7[0]["data"]["error"])
        gap = (parse_time(r7[1]["recorded_at"]) - parse_time(r7[0]["recorded_at"])).total_seconds()
        # The backoff runs from the failure; the failure's recorded_at is taken later, by the
        # writer, so the gap between the two records may be a little under the 8 s minimum.
        self.assertGreaterEqual(gap, 7.5)
        self.assertLess(gap, 14)
        self.assertEqual(busy[0]["data"]["attempt"], 2)

        d.wait_for(lambda: len(t.to("+14155550145")) == 2 and len(t.to("+14155550146")) == 2
                   and len(t.to("+14155550148")) == 2, 25, "the SMS retries")
        r4 = t.to("+14155550145")
        self.assertGreaterEqual(r4[1][0] - r4[0][0], 13.9)  # Retry-After honoured
        self.assertLess(r4[1][0] - r4[0][0], 17)
        r5 = t.to("+14155550146")
        self.assertGreaterEqual(r5[1][0] - r5[0][0], 7.9)
        self.assertLess(r5[1][0] - r5[0][0], 14)
        r4_outcomes = d.wait_for(
            lambda: [e for e in d.outcomes_for("registration.confirmation:r4")
                     if e["type"] == "notification.sent"] and
            d.outcomes_for("registration.confirmation:r4"), 20, "r4 outcomes")
        self.assertEqual([e["type"] for e in r4_outcomes],
                         ["notification.failed", "notification.sent"])
        failed_at = parse_time(r4_outcomes[0]["recorded_at"])
        retry_at = parse_time(r4_outcomes[0]["data"]["retry_at"])
        # retry_at is the answer's time + 14 s; recorded_at is taken later, by the writer.
        # Still more than the largest default backoff (12 s): Retry-After was honoured.
        self.assertGreaterEqual((retry_at - failed_at).total_seconds(), 12.5)

        # HTTP 401 (error 20003): transient, retried and sent; the operator is told, at error
        # level, that the account is refused, with ids but no number.
        r9 = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r9")
                                 if e["type"] == "notification.sent"]
                        and d.outcomes_for("registration.confirmation:r9"), 20, "r9 outcomes")
        self.assertEqual([e["type"] for e in r9], ["notification.failed", "notification.sent"])
        self.assertFalse(r9[0]["data"]["permanent"])
        self.assertEqual(r9[0]["data"]["error"],
                         "twilio: HTTP 401, error 20003: Twilio did not accept our login")
        alert = [line for line in d.read_log().splitlines()
                 if "refuses the sender's account" in line]
        self.assertEqual(len(alert), 1, alert)
        self.assertIn("error", alert[0])
        self.assertIn("registration.confirmation:r9:sms", alert[0])

        # The confirmation email: MIME parts, headers, and the invitation.
        raw = self.mail.to("riley@example.org")[0][1]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg["From"], "Peer Support <meetings@example.org>")
        self.assertEqual(msg["To"], "riley@example.org")
        self.assertIn(b"\r\nTo: <riley@example.org>\r\n", raw)
        self.assertIn("Café des aidants", msg["Subject"])  # RFC 2047, decoded
        self.assertIn(b"Subject: =?UTF-8?B?", raw)
        self.assertTrue(msg["Date"])
        self.assertRegex(msg["Message-ID"], r"^<[0-9a-f]{32}@example\.org>$")
        # A keyed hash of the notification id under the daemon's link key (participant-id.key),
        # not a hash anyone could recompute from guessed ids (the id names the session).
        sent = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r1:email")
                                   if e["type"] == "notification.sent"], 20, "r1 email sent")
        with open(os.path.join(d.dir, "state", "participant-id.key"), "rb") as f:
            link_key = f.read()
        token = hashlib.blake2b(b"message-id\n" + sent[0]["data"]["notification_id"].encode(),
                                digest_size=16, key=link_key).hexdigest()
        self.assertEqual(msg["Message-ID"], f"<{token}@example.org>")
        unsub = msg["List-Unsubscribe"]
        # Only the one-click https form: nudged reads no mail, so no mailto form.
        self.assertRegex(unsub,
                         r"^<https://reminders\.example\.org/v1/unsubscribe\?token=p-[^>,]*>$")
        self.assertEqual(msg["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        alternative = msg.get_payload()[0]
        self.assertEqual(alternative.get_content_type(), "multipart/alternative")
        parts = alternative.get_payload()
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "text/html", "text/calendar"])
        self.assertIn("registered", parts[0].get_content())
        self.assertIn('<html lang="en"', parts[1].get_content())
        self.assertEqual(parts[2].get_param("method"), "REQUEST")
        ics = parts[2].get_content()
        local = start.astimezone(zoneinfo.ZoneInfo("America/New_York"))
        uid = re.search(r"^UID:(nudged-[0-9a-f]{32}@reminders\.example\.org)\r?$",
                        ics.replace("\r\n ", ""), re.M)
        self.assertIsNotNone(uid, ics)
        for line in ("METHOD:REQUEST", "SEQUENCE:1",
                     "DTSTART;TZID=America/New_York:" + local.strftime("%Y%m%dT%H%M%S"),
                     "BEGIN:VTIMEZONE", "TZID:America/New_York", "STATUS:CONFIRMED",
                     "ORGANIZER:mailto:meetings@example.org"):
            self.assertIn(line, ics.replace("\r\n ", ""))
        self.assertIn("mailto:riley@example.org", ics.replace("\r\n ", ""))

        # A cancellation: METHOD:CANCEL, same UID, next SEQUENCE.
        d.import_events({"type": "session.cancelled", "data": {"session_id": "s1"}})
        d.wait_for(lambda: len(self.mail.to("riley@example.org")) == 2, 10, "cancel notice")
        cancel = email.message_from_bytes(self.mail.to("riley@example.org")[1][1],
                                          policy=email.policy.default)
        cal = [p for p in cancel.walk() if p.get_content_type() == "text/calendar"][0]
        self.assertEqual(cal.get_param("method"), "CANCEL")
        text = cal.get_content().replace("\r\n ", "")
        for line in ("METHOD:CANCEL", "UID:" + uid.group(1), "SEQUENCE:2",
                     "STATUS:CANCELLED"):
            self.assertIn(line, text)

        self.assertEqual(d.stop(), 0)
        # Nothing recorded twice; no personal data in the daemon's log.
        ids = [(e["data"]["notification_id"], e["data"]["attempt"]) for e in d.events()
               if e["type"] in ("notification.sent", "notification.failed")]
        self.assertEqual(len(ids), len(set(ids)))
        log = d.read_log()
        for secret in PERSONAL:
            self.assertNotIn(secret, log)

    def test_retries_run_up_to_the_deadline_and_then_expire_saying_why(self):
        # Twilio down (HTTP 500) and a meeting a minute away. The backoff tries at 0, ~10 and
        # ~30 s; its next (~40 s on) would be past the start. Rather than give up a whole
        # interval early (the probe saw the last try 12 s before a start 45 s away, and the
        # text expired as "missed while nudged was not running"), one last try is made 10 s
        # before the start, and the expiry then says the deadline passed.
        self.smtp()
        t = self.twilio
        t.behaviour = {"+14155550149": [("500", {"code": 20500})]}
        d = Daemon(self, self.smtp_port, t.port)
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=61)
        d.import_events(session("s1", start), registration("r1", "s1", phone="+14155550149"))
        d.start()
        expired = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r1")
                                      if e["type"] == "notification.expired"], 90, "the expiry")
        tries = [dt.datetime.fromtimestamp(at - time.monotonic() + time.time(), dt.timezone.utc)
                 for at, *_ in t.to("+14155550149")]
        self.assertGreaterEqual(len(tries), 4)
        last = (start - tries[-1]).total_seconds()
        self.assertGreater(last, 8, tries)  # deadline - 10 s, give or take the scheduling
        self.assertLess(last, 12, tries)
        reason = expired[0]["data"]["reason"]
        self.assertIn("passed before a retry could be made", reason)
        self.assertNotIn("not running", reason)
        failed = [e for e in d.outcomes_for("registration.confirmation:r1")
                  if e["type"] == "notification.failed"]
        self.assertEqual(len(failed), len(tries))
        self.assertTrue(all(not e["data"]["permanent"] for e in failed))
        self.assertEqual(d.stop(), 0)

    def test_one_person_registered_twice_is_reminded_once(self):
        # A form sent twice (no Idempotency-Key) is two registrations of one person: each is
        # answered, but the meeting's reminder goes once; a third registration that adds text
        # messages reminds by text too, not by a second email. The reminder falls due about
        # 15 s from now, after all three registrations are in.
        self.smtp()
        d = Daemon(self, self.smtp_port, self.twilio.port)
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=610)
        meeting = session("s1", start)
        meeting["data"]["group"] = "soon"  # reminded 595 s before it starts
        d.import_events(meeting, registration("r1", "s1", "riley@example.org"))
        d.start()
        d.wait_for(lambda: self.mail.to("riley@example.org"), 20, "the first confirmation")
        d.import_events(registration("r2", "s1", "Riley@Example.org"),
                        registration("r3", "s1", "riley@example.org", "+14155550149"))
        self.assertLess(dt.datetime.now(dt.timezone.utc), start - dt.timedelta(seconds=596),
                        "too slow: the registrations came after the reminder's time")
        d.wait_for(lambda: d.outcomes_for("session.reminder:"), 40, "the reminder")
        time.sleep(2)
        reminded = sorted((e["data"]["notification_id"].split(":")[1], e["data"]["channel"])
                          for e in d.outcomes_for("session.reminder:"))
        self.assertEqual(reminded, [("r1/s1", "email"), ("r3/s1", "sms")])
        # Three confirmations and one reminder by email; a confirmation and a reminder by text.
        self.assertEqual(len(self.mail.to("riley@example.org")), 4)
        self.assertEqual(len(self.twilio.to("+14155550149")), 2)
        self.assertEqual(d.stop(), 0)

    def test_sigterm_records_a_send_still_in_flight_at_the_bound(self):
        # SPEC §7: on SIGTERM nudged finishes or records in-flight sends within a bound. An SMS
        # the provider never answers (and curl would wait a minute for) is still in flight at
        # the bound (10 s): it is recorded as a failed attempt, to be retried, and nudged exits 0.
        self.smtp()
        self.twilio.behaviour = {"+14155550148": [("hang",)]}
        d = Daemon(self, self.smtp_port, self.twilio.port, sms_timeout="60s")
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
        d.import_events(session("s1", start), registration("r1", "s1", phone="+14155550148"))
        d.start()
        d.wait_for(lambda: self.twilio.to("+14155550148"), timeout=20, what="the hung SMS")
        asked = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=30), 0, d.read_log())
        elapsed = time.monotonic() - asked
        self.assertGreaterEqual(elapsed, 9.5)
        self.assertLess(elapsed, 20)
        self.assertIn("stopping: 1 sends unfinished after 10 s; recording them as failed",
                      d.read_log())
        failed = d.outcomes_for("registration.confirmation:r1:sms")
        self.assertEqual([e["type"] for e in failed], ["notification.failed"], failed)
        data = failed[0]["data"]
        self.assertEqual(data["attempt"], 1)
        self.assertFalse(data["permanent"])
        self.assertIn("closed", data["error"])
        self.assertIn("retry_at", data)
        # Nothing in the log or the events names the person.
        for value in ("4155550148", "Riley"):
            self.assertNotIn(value, d.read_log())

    def silent_smtp(self, hang):
        server = SilentAfterData(hang)
        self.addCleanup(server.close)
        return server

    def test_a_connection_that_timed_out_is_not_reused_nor_waited_for_at_sigterm(self):
        # The mail server takes the first message and never answers its end. curl keeps such a
        # connection; the next message must not go down it (it would time out too), and at
        # SIGTERM curl's QUIT on it must not hold the exit (curl waits 120 s for the reply).
        server = self.silent_smtp(hang=(1,))
        d = Daemon(self, server.port, self.twilio.port, tls="none")
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
        d.import_events(session("s1", start), registration("r1", "s1", "riley@example.org"))
        d.start()
        failed = d.wait_for(lambda: d.outcomes_for("registration.confirmation:r1"), 20,
                            "the timed-out send")
        self.assertEqual(failed[0]["type"], "notification.failed")
        self.assertIn("timeout", failed[0]["data"]["error"])
        d.import_events(registration("r2", "s1", "casey@example.org"))
        sent = d.wait_for(lambda: d.outcomes_for("registration.confirmation:r2"), 20,
                          "the next send")
        self.assertEqual(sent[0]["type"], "notification.sent", sent)
        self.assertEqual(server.accepted, [(2, "casey@example.org")])
        asked = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=30), 0, d.read_log())
        self.assertLess(time.monotonic() - asked, 5, d.read_log())

    def test_an_email_held_up_past_its_deadline_says_so_not_downtime(self):
        # Four sends are in flight on a silent mail server (the channel's four slots; curl may
        # queue some behind the first connection), so a fifth confirmation waits its turn past
        # the meeting's start. nudged ran all along: its
        # expiry must say the deadline passed before it could be sent, not that it was missed
        # while nudged was not running (that sends the operator looking for a downtime).
        server = self.silent_smtp(hang=(1, 2, 3, 4))
        d = Daemon(self, server.port, self.twilio.port, tls="none", smtp_timeout="20s")
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=12)
        d.import_events(session("s1", start),
                        *[registration(f"r{i}", "s1", f"p{i}@example.org") for i in range(5)])
        d.start()
        self.assertTrue(server.hung.wait(15), d.read_log())  # the first of the four
        while dt.datetime.now(dt.timezone.utc) < start + dt.timedelta(seconds=1):
            time.sleep(0.2)
        # A change to the session makes nudged plan again: the waiting one is now past its
        # deadline, and is expired once a slot frees (the four time out at 20 s).
        d.import_events({"type": "session.updated",
                         "data": {"session_id": "s1", "title": "Café des aidants (moved room)"}})
        expired = d.wait_for(lambda: len(d.events("notification.expired")) == 5 and
                             d.events("notification.expired"), 40, "the expiries")
        reasons = {e["data"]["notification_id"].split(":")[1]: e["data"]["reason"]
                   for e in expired}
        self.assertIn("passed before it could be sent", reasons["r4"])
        for rid in ("r0", "r1", "r2", "r3"):  # the four that hung: their one try failed
            self.assertIn("passed before a retry could be made", reasons[rid])
        for reason in reasons.values():
            self.assertNotIn("not running", reason)

    def test_sigterm_during_a_hung_email_exits_within_the_bound(self):
        # The send is still in smtp_done's blocking wait for the server's reply (a 60 s timeout)
        # when the 10 s bound passes: it is recorded as failed, the connection is dropped rather
        # than waited for, and nudged exits 0 soon after the bound (systemd kills it at 30 s).
        server = self.silent_smtp(hang=(1,))
        d = Daemon(self, server.port, self.twilio.port, tls="none", smtp_timeout="60s")
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
        d.import_events(session("s1", start), registration("r1", "s1", "riley@example.org"))
        d.start()
        self.assertTrue(server.hung.wait(20), d.read_log())
        asked = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=40), 0, d.read_log())
        elapsed = time.monotonic() - asked
        self.assertGreaterEqual(elapsed, 9.5)
        self.assertLess(elapsed, 14, d.read_log())
        self.assertIn("stopping: 1 sends unfinished after 10 s; recording them as failed",
                      d.read_log())
        failed = d.outcomes_for("registration.confirmation:r1")
        self.assertEqual([e["type"] for e in failed], ["notification.failed"], failed)

    def test_no_new_send_starts_while_outcomes_cannot_be_recorded(self):
        # A message sent while its outcome cannot be written is sent again after a restart. So
        # once an outcome fails to append (here the log is locked by another writer, as a full
        # disk would refuse it), nothing more is sent until an append succeeds again.
        self.smtp()
        d = Daemon(self, self.smtp_port, self.twilio.port)
        self.addCleanup(d.close)
        # Reminders come 595 s before a "soon" meeting: r1's 12 s from now, r2's 24 s.
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        s1, s2 = session("s1", now + dt.timedelta(seconds=607)), \
            session("s2", now + dt.timedelta(seconds=619))
        s1["data"]["group"] = s2["data"]["group"] = "soon"
        d.import_events(s1, s2, registration("r1", "s1", "riley@example.org"),
                        registration("r2", "s2", "casey@example.org"))
        d.start()
        d.wait_for(lambda: len([e for e in d.events("notification.sent")]) == 2, 10,
                   "both confirmations recorded")
        lock = sqlite3.connect(os.path.join(d.dir, "state", "nudged.db"), isolation_level=None,
                               timeout=10)
        lock.execute("BEGIN IMMEDIATE")
        locked = True
        try:
            # r1's reminder goes out; its outcome cannot be written (after SQLite's 5 s wait).
            d.wait_for(lambda: len(self.mail.to("riley@example.org")) == 2, 20, "r1's reminder")
            d.wait_for(lambda: "recording the outcome of session.reminder:r1" in d.read_log(),
                       15, "the failed append")
            # r2's reminder falls due meanwhile, and waits.
            d.wait_for(lambda: "firing session.reminder:r2" in d.read_log(), 20,
                       "r2's reminder due")
            time.sleep(3)
            self.assertEqual(len(self.mail.to("casey@example.org")), 1, d.read_log())
            lock.execute("ROLLBACK")
            locked = False
        finally:
            if locked:
                lock.execute("ROLLBACK")
            lock.close()
        released = time.monotonic()
        d.wait_for(lambda: len(self.mail.to("casey@example.org")) == 2, 20,
                   "r2's reminder, once outcomes are recorded again")
        self.assertLess(time.monotonic() - released, 15)

        def reminders_recorded():
            return len([e for e in d.outcomes_for("session.reminder:")
                        if e["type"] == "notification.sent"]) == 2

        d.wait_for(reminders_recorded, 20, "both reminders recorded as sent")
        self.assertEqual(len(self.mail.to("riley@example.org")), 2)  # r1's went out once
        self.assertIn("no new sends until outcomes can be recorded again", d.read_log())
        self.assertEqual(d.stop(), 0)

    def test_sigterm_says_how_many_outcomes_could_not_be_recorded(self):
        # An outcome that still cannot be written at SIGTERM is tried again until the bound,
        # and the operator is told (a count, nothing personal) that a send will be repeated.
        self.smtp()
        d = Daemon(self, self.smtp_port, self.twilio.port)
        self.addCleanup(d.close)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        s1 = session("s1", now + dt.timedelta(seconds=605))  # the reminder: 10 s from now
        s1["data"]["group"] = "soon"
        d.import_events(s1, registration("r1", "s1", "riley@example.org"))
        d.start()
        d.wait_for(lambda: d.events("notification.sent"), 10, "the confirmation recorded")
        lock = sqlite3.connect(os.path.join(d.dir, "state", "nudged.db"), isolation_level=None,
                               timeout=10)
        self.addCleanup(lock.close)
        lock.execute("BEGIN IMMEDIATE")
        d.wait_for(lambda: "recording the outcome of session.reminder:r1" in d.read_log(), 30,
                   "the failed append")
        asked = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=40), 0, d.read_log())
        self.assertGreaterEqual(time.monotonic() - asked, 9.5, d.read_log())
        self.assertIn("stopping: the outcomes of 1 sends could not be recorded; they will be "
                      "sent again after the next start", d.read_log())
        self.assertNotIn("riley", d.read_log())

    def test_starttls_required_with_a_private_ca(self):
        key, cert = make_cert(tempfile.mkdtemp(prefix="nudged-cert-"))
        import ssl
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.smtp(tls_context=context, require_starttls=True)
        d = Daemon(self, self.smtp_port, self.twilio.port, tls="required", ca_file=cert)
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
        d.import_events(session("s1", start, title="Game night", zone="UTC"),
                        registration("r1", "s1", "riley@example.org"))
        d.start()
        d.wait_for(lambda: self.mail.to("riley@example.org"), 10, "mail over STARTTLS")
        recipients, raw, was_tls = self.mail.to("riley@example.org")[0]
        self.assertTrue(was_tls)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg["Subject"].startswith("You're registered: Game night"), True)
        self.assertIn(b"Subject: You're registered: Game night", raw)  # ASCII: not encoded
        ics = [p for p in msg.walk() if p.get_content_type() == "text/calendar"][0].get_content()
        self.assertIn("DTSTART:" + start.strftime("%Y%m%dT%H%M%SZ"), ics)
        d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:r1")
                            if e["type"] == "notification.sent"], 20, "recorded as sent")
        self.assertEqual(d.stop(), 0)

    def test_tls_required_without_starttls_is_a_transient_failure(self):
        self.smtp()  # plain: no STARTTLS on offer
        d = Daemon(self, self.smtp_port, self.twilio.port, tls="required")
        self.addCleanup(d.close)
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
        d.import_events(session("s1", start), registration("r1", "s1", "riley@example.org"))
        d.start()
        failed = d.wait_for(lambda: d.outcomes_for("registration.confirmation:r1"), 10,
                            "the refused send")
        self.assertEqual(failed[0]["type"], "notification.failed")
        self.assertFalse(failed[0]["data"]["permanent"])
        self.assertEqual(self.mail.to("riley@example.org"), [])
        self.assertEqual(d.stop(), 0)


def main():
    global NUDGED, NUDGECTL
    parser = argparse.ArgumentParser()
    parser.add_argument("--nudged", required=True)
    parser.add_argument("--nudgectl", required=True)
    args, rest = parser.parse_known_args()
    NUDGED, NUDGECTL = os.path.abspath(args.nudged), os.path.abspath(args.nudgectl)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
