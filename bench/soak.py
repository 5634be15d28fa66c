#!/usr/bin/env python3
"""Soak: the real nudged under a long, mixed, realistic load, then checks of what people got.

    soak.py --nudged PATH --nudgectl PATH [--seconds N] [--seed S]
            [--reload-every S] [--restart-every S] [--keep]

Runs the daemon with a real SMTP server (aiosmtpd) and a loopback stand-in for Twilio's
Messages API (which now and then answers 500 or 429, so retries happen), and for N seconds
(default 1800; CI runs a short smoke) keeps doing what an organisation and its members do:
schedule sessions a few minutes ahead (so confirmations, reminders and change notices all go
out during the run; a quarter are daily series, whose first meeting is registered for alone
or with the whole series, and moved or cancelled alone), register people (some twice, with
their address capitalised differently; a form now and then sent twice; some asking for
captions, which reaches the coordinator; some through Zoom's webhook), cancel registrations
(in Zoom too), reschedule,
update and cancel sessions, text STOP and START, click the unsubscribe link of an email they
received, and have an admin erase someone. Every 45 s it reloads the daemon (SIGHUP) and every
100 s it stops it (SIGTERM) and starts it again (both adjustable, for a short smoke run).

At the end it checks, and exits 1 naming each violation:
  - every stop exited 0, the daemon never died on its own, no request got a 5xx (requests
    start once /readyz says 200);
  - no email was delivered twice (its Message-ID is stable per notification); every email
    delivered has its notification.sent (by Message-ID) and every text its sid as provider_id,
    and the other way round; confirmations went out on both channels; no one was reminded
    of one meeting twice on one channel (under two of their registrations);
  - no message reached an address after its opt-out (unsubscribe link or STOP) or its owner's
    erasure was acknowledged (plus 2 s for a send already under way), unless opted in again;
  - `nudgectl verify` passes on the log;
  - open file descriptors did not grow over the second half of a daemon's life (more than 8),
    and prints the resident memory at each sample, so a leak shows as a slope.
"""
import argparse
import base64
import datetime as dt
import email
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zoneinfo
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

SECRET = "soak-webhook-secret-0123456789abcdef"
ZOOM_SECRET = "soak-zoom-secret-token"
TWILIO_TOKEN = "soak-twilio-auth-token"
TWILIO_URL = "https://reminders.example.org/v1/webhooks/twilio/sms"
SID = "AC" + "0" * 32
PUBLIC = "https://reminders.example.org"

CONFIG = """
[daemon]
state_dir = "{dir}/state"
listen = "127.0.0.1:{port}"
admin_socket = "{dir}/admin.sock"
public_url = "{public}"
log_level = "info"

[webhooks]
secret = "{secret}"

[webhooks.zoom]
secret_token = "{zoom_secret}"

[webhooks.twilio]
auth_token = "{twilio_token}"
public_url = "{twilio_url}"

[channels.email]
kind = "smtp"
url = "smtp://127.0.0.1:{smtp}"
from = "Peer Support <meetings@example.org>"
tls = "none"
timeout = "5s"

[channels.sms]
kind = "twilio"
api_base = "http://127.0.0.1:{twilio}"
account_sid = "{sid}"
auth_token_file = "{dir}/twilio-token"
from = "+15005550006"
timeout = "5s"

[policy]
email_reminders = ["90s", "40s"]
sms_reminders = ["60s"]
quiet_hours = ""
late_grace = "60s"

[accessibility]
coordinator = "email:access@example.org"
"""


def utc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_id(link_key, notification_id, domain="example.org"):
    """The Message-ID nudged gives an email: a keyed BLAKE2b-128 of the notification id under
    the daemon's link key, state_dir/participant-id.key (daemon/link_token.h: message_id_token)."""
    token = hashlib.blake2b(b"message-id\n" + notification_id.encode(), digest_size=16,
                            key=link_key).hexdigest()
    return f"<{token}@{domain}>"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- what people receive -----------------------------------------------------------------------

class Inbox:
    """Everything delivered, by SMTP and by the Twilio stand-in, with when it arrived."""

    def __init__(self):
        self.lock = threading.Lock()
        self.emails = []  # (time, to (lower-case), message id, unsubscribe url or None)
        self.texts = []   # (time, to, the message sid answered)

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email_policy.default)
        header = msg.get("List-Unsubscribe", "")
        m = re.search(r"<(https?://[^>]+)>", header)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.emails.append((time.time(), rcpt.lower(), msg.get("Message-ID"),
                                    m.group(1) if m else None))
        return "250 OK"


class FakeTwilio:
    """Twilio's Messages API: 201 mostly, a 500 or a 429 now and then (retried by nudged)."""

    def __init__(self, inbox, rng):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = dict(urllib.parse.parse_qsl(body))
                with inbox.lock:
                    roll = rng.random()
                    if roll < 0.03:
                        status, payload = 500, {"code": 20500}
                    elif roll < 0.05:
                        status, payload = 429, {"code": 20429}
                    else:
                        sid = "SM%030x" % rng.getrandbits(120)
                        status, payload = 201, {"sid": sid}
                        inbox.texts.append((time.time(), form.get("To"), sid))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "2")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- the daemon ----------------------------------------------------------------------------------

class Daemon:
    def __init__(self, args, directory, smtp_port, twilio_port):
        self.args, self.dir = args, directory
        self.smtp_port, self.twilio_port = smtp_port, twilio_port
        self.config = os.path.join(directory, "nudged.toml")
        with open(os.path.join(directory, "twilio-token"), "w") as f:
            f.write(TWILIO_TOKEN + "\n")
        self.log = open(os.path.join(directory, "daemon.log"), "a")
        self.proc = None
        self.samples = []  # per life: [(seconds, fds, rss KiB)]

    def start(self):
        # A fresh port for each life: another program may have taken the last one meanwhile.
        self.port = free_port()
        with open(self.config, "w") as f:
            f.write(CONFIG.format(dir=self.dir, port=self.port, public=PUBLIC, secret=SECRET,
                                  zoom_secret=ZOOM_SECRET,
                                  twilio_token=TWILIO_TOKEN, twilio_url=TWILIO_URL,
                                  smtp=self.smtp_port, twilio=self.twilio_port, sid=SID))
        self.proc = subprocess.Popen([self.args.nudged, "--config", self.config],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"soak: nudged exited {self.proc.returncode} at start")
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    self.samples.append([])
                    self.sample()
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("soak: nudged did not become ready in 60 s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def sample(self):
        pid = self.proc.pid
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            with open(f"/proc/{pid}/status") as f:
                rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            return
        self.samples[-1].append((time.time(), fds, rss))

    def request(self, method, path, body=b"", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def signed(self, path, payload):
        body = json.dumps(payload).encode()
        t = int(time.time())
        mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return self.request("POST", path, body, {"Content-Type": "application/json",
                                                 "Nudged-Signature": f"t={t},v1={mac}"})

    def zoom(self, payload):
        body = json.dumps(payload).encode()
        t = str(int(time.time()))
        mac = hmac.new(ZOOM_SECRET.encode(), f"v0:{t}:".encode() + body, hashlib.sha256).hexdigest()
        return self.request("POST", "/v1/webhooks/zoom", body,
                            {"x-zm-signature": f"v0={mac}", "x-zm-request-timestamp": t,
                             "Content-Type": "application/json; charset=utf-8"})

    def twilio(self, params):
        data = TWILIO_URL + "".join(k + v for k, v in sorted(params.items()))
        sig = base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), data.encode(),
                                        hashlib.sha1).digest()).decode()
        return self.request("POST", "/v1/webhooks/twilio/sms", urllib.parse.urlencode(params).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded",
                             "X-Twilio-Signature": sig})

    def ctl(self, *args):
        return subprocess.run([self.args.nudgectl, "--config", self.config, *args],
                              capture_output=True, text=True, timeout=120)


# --- the load -------------------------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.dir = tempfile.mkdtemp(prefix="nudged-soak-")
        self.inbox = Inbox()
        smtp_port = free_port()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=smtp_port)
        self.smtp.start()
        self.twilio = FakeTwilio(self.inbox, random.Random(args.seed + 1))
        self.d = Daemon(args, self.dir, smtp_port, self.twilio.port)
        self.violations = []
        self.statuses = {}
        self.sessions = {}       # id -> starts_at (datetime), for those not cancelled
        self.series = {}         # id -> first starts_at
        self.zoom_meetings = {}  # session id -> its Zoom meeting id
        self.zoom_meetings_made = 0
        self.zoom_registrants = []  # (meeting id, registrant id, email) registered through Zoom
        self.registrations = []  # (registration id, participant id, email or None, phone or None)
        self.people = 0
        # address -> [(time acknowledged, "out" | "in" | "erased" | "registered")], in time
        # order; addresses lower-cased
        self.consent = {}
        self.unsubscribed_urls = set()
        self.erased = set()
        self.stops = 0

    def note(self, what, status):
        self.statuses[(what, status)] = self.statuses.get((what, status), 0) + 1
        if status >= 500:
            self.violations.append(f"{what} answered {status}")

    # Each action is one thing a person or an admin does.
    def schedule_session(self):
        if self.rng.random() < 0.25:
            return self.schedule_series()
        sid = f"s{len(self.sessions) + self.stops}-{self.rng.getrandbits(24):06x}"
        starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.rng.randint(100, 300))
        status, _ = self.d.signed("/v1/events", {"type": "session.scheduled", "data": {
            "session_id": sid, "group": self.rng.choice(["general", "higher-ed", "ibd"]),
            "title": "Peer support", "starts_at": utc(starts), "time_zone": "America/New_York",
            "duration_minutes": 60, "join_url": "https://zoom.example.org/j/1",
            "zoom_meeting_id": str(self.zoom_meetings_made + 81000000000),
            "facilitators": [{"name": "Sam", "email": "facilitator@example.org"}]}})
        self.note("session.scheduled", status)
        if status == 202:
            self.sessions[sid] = starts
            self.zoom_meetings[sid] = self.zoom_meetings_made + 81000000000
        self.zoom_meetings_made += 1

    def schedule_series(self):
        # A daily series whose first meeting is a few minutes ahead: its meeting today is
        # "<series>@<local date>", which people register for, and which is moved or cancelled
        # on its own; others register for the whole series.
        sid = f"series{len(self.series)}-{self.rng.getrandbits(24):06x}"
        starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.rng.randint(100, 300))
        status, _ = self.d.signed("/v1/events", {"type": "series.scheduled", "data": {
            "series_id": sid, "group": "ibd", "title": "Monthly check-in",
            "rrule": "FREQ=DAILY;COUNT=3", "first_starts_at": utc(starts),
            "time_zone": "America/New_York", "duration_minutes": 60,
            "join_url": "https://zoom.example.org/j/3",
            "facilitators": [{"name": "Sam", "email": "facilitator@example.org"}]}})
        self.note("series.scheduled", status)
        if status == 202:
            day = starts.astimezone(zoneinfo.ZoneInfo("America/New_York")).date().isoformat()
            self.series[sid] = starts
            self.sessions[f"{sid}@{day}"] = starts

    def upcoming(self, margin=30):
        now = dt.datetime.now(dt.timezone.utc)
        return [s for s, t in self.sessions.items() if t > now + dt.timedelta(seconds=margin)]

    def register(self):
        choices = self.upcoming()
        if not choices:
            return
        if self.registrations and self.rng.random() < 0.2:
            # Someone registered already comes to another meeting, typing their address anew.
            _, _, address, phone = self.rng.choice(self.registrations)
            if address is None:
                return
            local, domain = address.split("@")
            address = "".join(c.upper() if self.rng.random() < 0.3 else c for c in local) + "@" + domain
        else:
            self.people += 1
            address = f"person{self.people}@example.org"
            phone = f"+1415{2000000 + self.people:07d}" if self.rng.random() < 0.5 else None
        sms = phone is not None and self.rng.random() < 0.8
        participant = {"name": f"Person {self.people}", "email": address}
        if sms:
            participant["phone"] = phone
        target = self.rng.choice(choices)
        if "@" in target and self.rng.random() < 0.5:
            target_key = {"series_id": target.split("@")[0]}
        else:
            target_key = {"session_id": target}
        payload = {**target_key, "participant": participant,
                   "channels": ["email", "sms"] if sms else ["email"], "sms_consent": sms,
                   "accommodations": [{"kind": "captions"}] if self.rng.random() < 0.1 else []}
        # Now and then the form is sent twice (a double click, no Idempotency-Key): two
        # registrations of one person for one meeting, who must still be reminded once.
        for _ in range(2 if self.rng.random() < 0.05 else 1):
            self.post_registration(payload, address, phone if sms else None)

    def post_registration(self, payload, address, phone):
        status, body = self.d.signed("/v1/registrations", payload)
        self.note("registration", status)
        if status == 202:
            answer = json.loads(body)
            self.registrations.append((answer["registration_id"], answer["participant_id"],
                                       address.lower(), phone))
            # Someone erased who registers again is a new participant, with the same address:
            # messages to it are right again (an opt-out of the address still holds).
            for a in (address.lower(), phone):
                if a in self.consent:
                    self.consent[a].append((time.time(), "registered"))

    def register_through_zoom(self):
        # Zoom's meeting.registration_created (and, now and then, _cancelled) as Zoom sends it.
        choices = [s for s in self.upcoming() if s in self.zoom_meetings]
        if self.zoom_registrants and self.rng.random() < 0.2:
            meeting, registrant, address = self.rng.choice(self.zoom_registrants)
            event = "meeting.registration_cancelled"
        elif choices:
            meeting = self.zoom_meetings[self.rng.choice(choices)]
            self.people += 1
            registrant, address = f"zr{self.people:08d}", f"person{self.people}@example.org"
            event = "meeting.registration_created"
        else:
            return
        status, body = self.d.zoom({
            "event": event, "event_ts": int(time.time() * 1000),
            "payload": {"account_id": "AAAAAABBBB", "object": {
                "uuid": "4444AAAiAAAAAiAiAiiAii==", "id": meeting, "host_id": "x1yCzABCDEfg",
                "topic": "Peer support", "type": 2, "duration": 60,
                "timezone": "America/New_York",
                "registrant": {"id": registrant, "first_name": "Zoe", "last_name": "Sample",
                               "email": address, "status": "approved",
                               "join_url": "https://zoom.example/w/1?tk=abc"}}}})
        self.note("zoom " + event.split(".")[1], status)
        if status == 202 and event == "meeting.registration_created":
            answer = json.loads(body) if body else {}
            self.zoom_registrants.append((meeting, registrant, address))
            if "registration_id" in answer and "participant_id" in answer:
                self.registrations.append((answer["registration_id"], answer["participant_id"],
                                           address, None))
            if address in self.consent:
                self.consent[address].append((time.time(), "registered"))

    def cancel_registration(self):
        if self.registrations:
            rid = self.rng.choice(self.registrations)[0]
            status, _ = self.d.signed(f"/v1/registrations/{rid}/cancel", {"reason": "busy"})
            self.note("registration.cancel", status)

    def change_session(self):
        choices = self.upcoming(margin=60)
        if not choices:
            return
        sid = self.rng.choice(choices)
        roll = self.rng.random()
        if roll < 0.4:
            starts = self.sessions[sid] + dt.timedelta(seconds=self.rng.choice([-30, 30, 60]))
            event = {"type": "session.rescheduled", "data": {"session_id": sid, "starts_at": utc(starts)}}
        elif roll < 0.8:
            event = {"type": "session.updated", "data": {"session_id": sid,
                                                         "join_url": "https://zoom.example.org/j/2"}}
        else:
            event = {"type": "session.cancelled", "data": {"session_id": sid, "reason": "ill"}}
        status, _ = self.d.signed("/v1/events", event)
        self.note(event["type"], status)
        if status == 202 and event["type"] == "session.rescheduled":
            self.sessions[sid] = starts
        elif status == 202 and event["type"] == "session.cancelled":
            del self.sessions[sid]

    def text_stop_or_start(self):
        phones = [r[3] for r in self.registrations if r[3]]
        if not phones:
            return
        phone = self.rng.choice(phones)
        word = "STOP" if self.rng.random() < 0.7 else "START"
        status, _ = self.d.twilio({"From": phone, "To": "+15005550006", "Body": word,
                                   "MessageSid": "SM%030x" % self.rng.getrandbits(120),
                                   "AccountSid": SID})
        self.note("twilio " + word, status)
        if status == 200:
            self.consent.setdefault(phone, []).append((time.time(), "out" if word == "STOP" else "in"))

    def unsubscribe(self):
        with self.inbox.lock:
            urls = [(to, url) for _, to, _, url in self.inbox.emails
                    if url and to != "access@example.org" and to != "facilitator@example.org"
                    and url not in self.unsubscribed_urls]
        if not urls:
            return
        to, url = self.rng.choice(urls)
        self.unsubscribed_urls.add(url)
        path = url[len(PUBLIC):]
        status, _ = self.d.request("POST", path, b"List-Unsubscribe=One-Click",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        self.note("unsubscribe", status)
        pid = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0].split(".")[0]
        if status == 202 and pid not in self.erased:
            # The link names the participant: every address of theirs is opted out of email.
            # (Once they are erased nobody knows their address: the link has nothing to do.)
            for _, p, address, _ in self.registrations:
                if p == pid and address:
                    self.consent.setdefault(address, []).append((time.time(), "out"))

    def erase(self):
        if not self.registrations:
            return
        _, pid, _, _ = self.rng.choice(self.registrations)
        if pid in self.erased:
            return
        r = subprocess.run([self.args.nudgectl, "--socket", os.path.join(self.dir, "admin.sock"),
                            "erase", "--participant", pid], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            self.violations.append(f"nudgectl erase {pid}: {r.returncode} {r.stderr.strip()}")
            return
        self.erased.add(pid)
        acked = time.time()
        for _, p, address, phone in self.registrations:
            if p == pid:
                for a in (address, phone):
                    if a:
                        self.consent.setdefault(a, []).append((acked, "erased"))

    def run(self):
        self.d.start()
        start = self.started = time.time()
        reload_every, restart_every = self.args.reload_every, self.args.restart_every
        next_reload, next_restart = start + reload_every, start + restart_every
        sample_every = min(10.0, restart_every / 5, self.args.seconds / 5)
        next_sample = start + sample_every
        actions = [(self.schedule_session, 2), (self.register, 10),
                   (self.register_through_zoom, 2), (self.cancel_registration, 1),
                   (self.change_session, 1), (self.text_stop_or_start, 1), (self.unsubscribe, 1),
                   (self.erase, 0.2)]
        funcs, weights = zip(*actions)
        for _ in range(3):
            self.schedule_session()
        while time.time() - start < self.args.seconds:
            if self.d.proc.poll() is not None:
                self.violations.append(f"nudged died on its own: exit {self.d.proc.returncode}")
                self.d.start()
            now = time.time()
            if now >= next_sample:
                self.d.sample()
                next_sample = now + sample_every
            if now >= next_reload:
                self.d.proc.send_signal(signal.SIGHUP)
                next_reload = now + reload_every
            if now >= next_restart:
                code = self.d.stop()
                self.stops += 1
                if code != 0:
                    self.violations.append(f"SIGTERM: nudged exited {code}")
                self.d.start()
                next_restart = time.time() + restart_every
            action = self.rng.choices(funcs, weights)[0]
            try:
                action()
            except OSError:
                # A timeout on a slow machine may happen once; a refused or reset connection,
                # or a second failure, is the daemon's.
                time.sleep(1)
                try:
                    action()
                except OSError as e:
                    self.violations.append(f"{action.__name__}: request failed twice: {e!r}")
            time.sleep(self.rng.uniform(0.02, 0.1))
        # Let what is due go out, then stop.
        time.sleep(5)
        self.d.sample()
        code = self.d.stop()
        if code != 0:
            self.violations.append(f"final SIGTERM: nudged exited {code}")

    # --- the checks ---------------------------------------------------------------------------

    def check(self):
        exported = self.d.ctl("events", "export")
        if exported.returncode != 0:
            self.violations.append("events export failed: " + exported.stderr)
            return
        events = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
        sent = [e for e in events if e["type"] == "notification.sent"]
        sent_ids = [e["data"]["notification_id"] for e in sent]
        if len(sent_ids) != len(set(sent_ids)):
            dups = sorted({i for i in sent_ids if sent_ids.count(i) > 1})
            self.violations.append(f"recorded as sent twice: {dups[:5]}")
        with self.inbox.lock:
            emails, texts = list(self.inbox.emails), list(self.inbox.texts)
        message_ids = [m for _, _, m, _ in emails]
        twice = sorted({m for m in message_ids if message_ids.count(m) > 1})
        if twice:
            self.violations.append(f"{len(twice)} emails delivered twice, e.g. {twice[:3]}")
        # Delivered and recorded, one for one: an email's Message-ID is a keyed hash of its
        # notification id (message_id above), a text's sid is the provider_id recorded.
        sent_email = [e for e in sent if e["data"]["channel"] == "email"]
        with open(os.path.join(self.dir, "state", "participant-id.key"), "rb") as f:
            link_key = f.read()
        expected = {message_id(link_key, e["data"]["notification_id"]) for e in sent_email}
        delivered = set(message_ids)
        if delivered - expected:
            self.violations.append(f"{len(delivered - expected)} emails delivered without a "
                                   f"notification.sent, e.g. {sorted(delivered - expected)[:2]}")
        if expected - delivered:
            self.violations.append(f"{len(expected - delivered)} emails recorded as sent but "
                                   "never delivered")
        sent_sms = [e for e in sent if e["data"]["channel"] == "sms"]
        recorded_sids = {e["data"].get("provider_id") for e in sent_sms}
        delivered_sids = {sid for _, _, sid in texts}
        if recorded_sids != delivered_sids or len(texts) != len(sent_sms):
            self.violations.append(f"{len(texts)} texts delivered, {len(sent_sms)} recorded as "
                                   f"sent; {len(delivered_sids - recorded_sids)} delivered "
                                   f"unrecorded, {len(recorded_sids - delivered_sids)} recorded "
                                   "undelivered")
        # One person is reminded of one meeting once per channel and time, however many of
        # their registrations cover it (sent twice, again for another channel, a series and
        # one of its meetings).
        person_of = {e["data"]["registration_id"]: e["data"]["participant"].get("participant_id")
                     for e in events if e["type"] == "registration.received"}
        reminded = {}
        for e in sent:
            kind, subject, channel, due, revision = e["data"]["notification_id"].split(":")
            if kind != "session.reminder":
                continue
            registration, meeting = subject.split("/", 1)
            key = (person_of.get(registration), meeting, channel, due, revision)
            reminded.setdefault(key, []).append(registration)
        twice_reminded = {k: v for k, v in reminded.items() if len(v) > 1}
        if twice_reminded:
            self.violations.append(f"{len(twice_reminded)} reminders went to one person twice "
                                   f"(under two registrations), e.g. "
                                   f"{sorted(twice_reminded.items())[:2]}")
        self.reminders_checked = len(reminded)
        # And the run did what it is for: confirmations went out, on both channels.
        for channel, group in (("email", sent_email), ("sms", sent_sms)):
            if not [e for e in group
                    if e["data"]["notification_id"].startswith("registration.confirmation")]:
                self.violations.append(f"no confirmation was sent by {channel}")
        self.permanent = {}
        for e in events:
            if e["type"] == "notification.failed" and e["data"]["permanent"]:
                reason = e["data"]["error"][:60]
                self.permanent[reason] = self.permanent.get(reason, 0) + 1

        # Nothing after an opt-out or an erasure was acknowledged (2 s for a send under way),
        # unless opted in again since.
        # A refusal counts from 2 s after it was acknowledged (a send may be under way); a
        # consent (an opt-in, a new registration) from 1 s before (the daemon may act on it
        # before its answer reaches us).
        def refused_at(address, when):
            opted_out = erased = False
            for t, what in self.consent.get(address, []):
                if what in ("in", "registered") and t - 1 <= when:
                    opted_out = opted_out and what != "in"
                    erased = erased and what != "registered"
                elif what in ("out", "erased") and t + 2 <= when:
                    opted_out = opted_out or what == "out"
                    erased = erased or what == "erased"
            return opted_out or erased
        late = [(to, t) for t, to, _, _ in emails if refused_at(to, t)]
        late += [(to, t) for t, to, _ in texts if refused_at(to, t)]
        for to, t in late[:5]:
            history = ", ".join(f"{what} at {h - self.started:.2f}"
                                for h, what in self.consent.get(to, []))
            self.violations.append(f"a message to {to} at {t - self.started:.2f} s after an "
                                   f"opt-out or erasure ({history})")
        if len(late) > 5:
            self.violations.append(f"and {len(late) - 5} more messages after an opt-out or erasure")

        v = self.d.ctl("verify")
        if v.returncode != 0:
            self.violations.append("nudgectl verify: " + v.stdout + v.stderr)

        # Descriptors grow at first (curl keeps connections to the providers for reuse, up to
        # a couple of dozen); after that, growth over the second half of a life is a leak.
        self.fd_checked = 0
        for life, samples in enumerate(self.d.samples):
            if len(samples) < 4:
                continue
            self.fd_checked += 1
            if samples[-1][1] > samples[len(samples) // 2][1] + 24:
                self.violations.append(f"life {life}: open files grew "
                                       f"{samples[len(samples) // 2][1]} -> {samples[-1][1]}")
        return events, sent_email, sent_sms, emails, texts

    def report(self, checked):
        events, sent_email, sent_sms, emails, texts = checked or ([], [], [], [], [])
        kinds = {}
        for e in sent_email + sent_sms:
            k = e["data"]["notification_id"].split(":")[0]
            kinds[k] = kinds.get(k, 0) + 1
        print(f"soak: {self.args.seconds:.0f} s, seed {self.args.seed}, {self.stops} restarts")
        print(f"  {len(events)} events; {len(self.registrations)} registrations by the form and "
              f"{len(self.zoom_registrants)} through Zoom, of {self.people} people; {len(self.sessions)} sessions (and series' meetings) still scheduled; "
              f"{len(self.series)} series")
        print(f"  delivered: {len(emails)} emails, {len(texts)} texts; sent by kind: "
              + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        print("  answers: " + ", ".join(f"{w} {s}: {n}" for (w, s), n in sorted(self.statuses.items())))
        for life, samples in enumerate(self.d.samples):
            if samples:
                print(f"  life {life}: open files " + " ".join(str(s[1]) for s in samples)
                      + "; resident KiB " + " ".join(str(s[2]) for s in samples))
        print(f"  reminders checked for one person twice: {getattr(self, 'reminders_checked', 0)}")
        print(f"  descriptors checked over {getattr(self, 'fd_checked', 0)} of "
              f"{len(self.d.samples)} lives (a life needs 4 samples)")
        for reason, n in sorted(getattr(self, "permanent", {}).items()):
            print(f"  failed for good ({n}): {reason}")
        for v in self.violations:
            print("  VIOLATION: " + v)
        print("  OK" if not self.violations else f"  {len(self.violations)} violations")

    def close(self):
        if self.d.proc and self.d.proc.poll() is None:
            self.d.proc.kill()
            self.d.proc.wait()
        self.smtp.stop()
        self.twilio.close()
        if not self.violations and not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"  kept {self.dir} (daemon.log, state/)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nudged", required=True)
    parser.add_argument("--nudgectl", required=True)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--reload-every", type=float, default=45)
    parser.add_argument("--restart-every", type=float, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the directory")
    args = parser.parse_args()
    soak = Soak(args)
    checked = None
    try:
        soak.run()
        checked = soak.check()
    finally:
        soak.report(checked)
        soak.close()
    sys.exit(1 if soak.violations else 0)


if __name__ == "__main__":
    main()
