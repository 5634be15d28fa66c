#!/usr/bin/env python3
"""End-to-end tests of the nudged daemon with `file` channels: the real binary, a real log.

Run by ctest as:
  daemon_test.py --nudged PATH --nudgectl PATH

Each test writes a configuration into its own temporary directory, imports events with
nudgectl (another writer, as an admin would), starts nudged and watches what it records in the
log and writes to the outbox. Times are real: sessions start a minute or two ahead, with
reminders seconds before.
"""
import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

NUDGED = NUDGECTL = None


def utc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def due_of(notification_id):
    # kind:subject:channel:20270111T190000Z:r1
    stamp = notification_id.split(":")[-2]
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def free_port():
    # Another test may take it before the daemon binds; the window is small and a bind
    # failure shows plainly in the daemon's log.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """
[daemon]
state_dir = "{dir}/state"
listen = "127.0.0.1:{port}"
admin_socket = "{dir}/admin.sock"
public_url = "https://reminders.example.org"
log_level = "trace"

[channels.email]
kind = "file"
dir = "{dir}/outbox/email"

[channels.sms]
kind = "file"
dir = "{dir}/outbox/sms"

[policy]
email_reminders = {email}
sms_reminders = {sms}
quiet_hours = ""
late_grace = "30s"

[accessibility]
coordinator = "email:access@example.org"
"""


class Daemon:
    def __init__(self, case, **policy):
        self.case = case
        self.tmp = tempfile.TemporaryDirectory(prefix="nudged-e2e-")
        self.dir = self.tmp.name
        self.config = os.path.join(self.dir, "nudged.toml")
        self.port = free_port()
        self.write_config(**policy)
        self.proc = None
        self.log = open(os.path.join(self.dir, "daemon.log"), "a")

    def write_config(self, email='["40s", "20s"]', sms='["30s"]', extra=""):
        with open(self.config, "w") as f:
            f.write(CONFIG.format(dir=self.dir, email=email, sms=sms, port=self.port) + extra)

    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([NUDGECTL, "--config", self.config, *args], input=input,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"nudgectl {args} failed: {r.stdout}{r.stderr}")
        return r

    def import_events(self, *events):
        lines = "\n".join(json.dumps(e) for e in events) + "\n"
        return self.ctl("events", "import", "-", input=lines)

    def start(self):
        logged = len(self.read_log())  # a restart: only this run's lines count
        self.proc = subprocess.Popen([NUDGED, "--config", self.config], stdout=self.log,
                                     stderr=self.log)
        # Until the loop runs, SIGHUP still has its default action (the process ends): wait for
        # the start to finish rather than a fixed time, which a loaded machine (ASan, opening
        # the key store) can outlast.
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            if "nudged running" in self.read_log()[logged:]:
                break
            time.sleep(0.05)
        self.case.assertIsNone(self.proc.poll(), self.read_log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            return self.proc.wait(timeout=30)
        return None

    def read_log(self):
        self.log.flush()
        with open(os.path.join(self.dir, "daemon.log")) as f:
            return f.read()

    def events(self):
        out = self.ctl("events", "export").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def outcomes(self, type_="notification.sent"):
        return [e for e in self.events() if e["type"] == type_]

    def wait_for(self, predicate, timeout=20.0, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n--- daemon log ---\n"
                             + self.read_log())

    def outbox(self, channel):
        d = os.path.join(self.dir, "outbox", channel)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def close(self):
        self.stop(signal.SIGKILL)
        log = self.read_log()
        self.log.close()
        self.tmp.cleanup()
        # At trace level too, a log carries ids, never what identifies a person (issue #7).
        for value in PERSONAL_VALUES:
            self.case.assertNotIn(value, log, f"{value!r} appears in the daemon's log")


# Every personal value these tests send: none may appear in a daemon's log.
PERSONAL_VALUES = ("Riley Morgan", "riley@example.org", "+14155550142", "4155550142",
                   "Sam Rivera", "sam@example.org")


def session(sid, starts, title="Peer support", group="general"):
    return {"type": "session.scheduled", "data": {
        "session_id": sid, "group": group, "title": title, "starts_at": utc(starts),
        "time_zone": "UTC", "duration_minutes": 60, "join_url": "https://zoom.example.org/j/1",
        "facilitators": [{"name": "Sam Rivera", "email": "sam@example.org"}]}}


def registration(rid, sid, channels=("email", "sms"), accommodations=()):
    return {"type": "registration.received", "data": {
        "registration_id": rid, "session_id": sid,
        "participant": {"name": "Riley Morgan", "email": "riley@example.org",
                        "phone": "+14155550142"},
        "channels": list(channels), "sms_consent": "sms" in channels,
        "accommodations": [{"kind": k} for k in accommodations]}}


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(self)

    def tearDown(self):
        self.d.close()

    def kinds_sent(self):
        return sorted((e["data"]["notification_id"].split(":")[0], e["data"]["channel"])
                      for e in self.d.outcomes())

    def test_confirmation_at_once_and_reminders_on_time(self):
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=50)
        self.d.import_events(session("s1", start), registration("r1", "s1"))
        self.d.start()
        self.d.wait_for(lambda: len([k for k in self.kinds_sent()
                                     if k[0] == "registration.confirmation"]) == 2,
                        timeout=20, what="both confirmations")
        # Email reminders at 40 s and 20 s before, the SMS one at 30 s.
        self.d.wait_for(lambda: len([k for k in self.kinds_sent()
                                     if k[0] == "session.reminder"]) == 3,
                        timeout=60, what="three reminders")
        for e in self.d.outcomes():
            nid = e["data"]["notification_id"]
            if nid.startswith("session.reminder"):
                lateness = (parse_time(e["recorded_at"]) - due_of(nid)).total_seconds()
                self.assertGreaterEqual(lateness, -0.001, nid)
                # recorded_at is the writer's clock, after the message is written and fsynced
                # and behind any commit under way: "on time" with room for a loaded machine.
                self.assertLess(lateness, 3.0, nid)
        # Each message is a file in the channel's outbox, and says nothing it should not.
        # Email: confirmation, 2 reminders, and the facilitator's roster (due a day before, so
        # at once for a session scheduled a minute ahead).
        self.assertEqual(len(self.d.outbox("email")), 4)
        self.assertIn(("facilitator.roster", "email"), self.kinds_sent())
        self.assertEqual(len(self.d.outbox("sms")), 2)
        # No personal data in the daemon's log.
        log = self.d.read_log()
        for secret in ("Riley", "riley@example.org", "+14155550142", "4155550142"):
            self.assertNotIn(secret, log)
        self.assertEqual(self.d.stop(), 0)

    def test_reschedule_moves_reminders_and_cancel_drops_them(self):
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=90)
        self.d.write_config(email='["60s"]', sms='[]')
        self.d.import_events(session("s1", start), registration("r1", "s1", channels=("email",)))
        self.d.start()
        self.d.wait_for(lambda: ("registration.confirmation", "email") in self.kinds_sent(),
                        timeout=20, what="confirmation")
        new_start = start + dt.timedelta(seconds=30)
        self.d.import_events({"type": "session.rescheduled", "data": {
            "session_id": "s1", "starts_at": utc(new_start)}})
        self.d.wait_for(lambda: ("session.changed", "email") in self.kinds_sent(), timeout=20,
                        what="change notice")
        reminder = self.d.wait_for(
            lambda: [e for e in self.d.outcomes()
                     if e["data"]["notification_id"].startswith("session.reminder")],
            timeout=80, what="the moved reminder")
        self.assertEqual(due_of(reminder[0]["data"]["notification_id"]),
                         new_start - dt.timedelta(seconds=60))
        self.assertTrue(reminder[0]["data"]["notification_id"].endswith(":r2"))
        # A second session, cancelled before its reminder: a notice, and no reminder.
        start2 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=75)
        self.d.import_events(session("s2", start2), registration("r2", "s2", channels=("email",)))
        self.d.wait_for(lambda: any(e["data"]["notification_id"].startswith(
            "registration.confirmation:r2") for e in self.d.outcomes()), timeout=20,
            what="second confirmation")
        self.d.import_events({"type": "session.cancelled", "data": {"session_id": "s2"}})
        self.d.wait_for(lambda: any(e["data"]["notification_id"].startswith(
            "session.changed:r2") for e in self.d.outcomes()), timeout=20, what="cancel notice")
        time.sleep(max(0, (start2 - dt.timedelta(seconds=60)
                           - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 2)
        self.assertFalse(any(e["data"]["notification_id"].startswith("session.reminder:r2")
                             for e in self.d.outcomes()))
        self.assertEqual(self.d.stop(), 0)

    def test_sigkill_and_restart_neither_lose_nor_repeat(self):
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=40)
        self.d.write_config(email='["30s", "10s"]', sms='[]')
        self.d.import_events(session("s1", start), registration("r1", "s1", channels=("email",)))
        self.d.start()
        self.d.wait_for(lambda: any(e["data"]["notification_id"].startswith("session.reminder")
                                    for e in self.d.outcomes()), timeout=30,
                        what="the first reminder")
        self.d.stop(signal.SIGKILL)
        time.sleep(1)
        self.d.start()
        self.d.wait_for(lambda: len([e for e in self.d.outcomes()
                                     if e["data"]["notification_id"].startswith(
                                         "session.reminder")]) == 2,
                        timeout=40, what="second reminder after restart")
        time.sleep(1.5)
        ids = [e["data"]["notification_id"] for e in self.d.outcomes()]
        self.assertEqual(len(ids), len(set(ids)), ids)  # nothing recorded twice
        self.assertEqual(sorted(i.split(":")[0] for i in ids),
                         ["facilitator.roster", "registration.confirmation", "session.reminder",
                          "session.reminder"])
        self.assertEqual(self.d.stop(), 0)
        self.assertEqual(self.d.ctl("verify").returncode, 0)

    def test_missed_while_down_is_expired_or_sent(self):
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        # Reminders at 5m and 10s before a session 2 minutes ahead: the 5m one was due three
        # minutes ago (past the 30 s grace) -> expired; nothing was running to send it.
        self.d.write_config(email='["5m"]', sms='[]')
        # Scheduled and registered ten minutes ago (import keeps recorded_at): as if nudged
        # had been down since.
        s = session("s1", now + dt.timedelta(seconds=120))
        reg = registration("r1", "s1", channels=("email",))
        for e in (s, reg):
            e["recorded_at"] = utc(now - dt.timedelta(minutes=10))
        self.d.import_events(s, reg)
        self.d.start()
        expired = self.d.wait_for(
            lambda: [e for e in self.d.outcomes("notification.expired")
                     if e["data"]["notification_id"].startswith("session.reminder")],
            timeout=20, what="expired reminder")
        self.assertEqual(len(expired), 1)
        # Nothing missed was sent late: the confirmation expired too (ten minutes is past the
        # 30 s grace).
        self.assertFalse(any(e["data"]["notification_id"].startswith("session.reminder")
                             for e in self.d.outcomes()))
        self.assertEqual(self.d.stop(), 0)

    def test_bad_reload_is_refused_and_sigterm_exits_zero(self):
        self.d.start()
        with open(self.d.config, "a") as f:
            f.write("\n[policy2]\nx = 1\n")
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for(lambda: "reload refused" in self.d.read_log(), timeout=20,
                        what="refused reload")
        self.assertIsNone(self.d.proc.poll())
        # A template that does not parse is refused at reload too, not found at send time.
        overrides = os.path.join(self.d.dir, "templates")
        os.makedirs(overrides)
        with open(os.path.join(overrides, "session.reminder.sms.text.mustache"), "w") as f:
            f.write("Hi {{#participant_name}}, unclosed section\n")
        self.d.write_config(extra=f'\n[templates]\ndir = "{overrides}"\n')
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for(lambda: self.d.read_log().count("reload refused") == 2, timeout=20,
                        what="refused template")
        self.assertIn("session.reminder.sms.text.mustache", self.d.read_log())
        self.assertIsNone(self.d.proc.poll())
        self.d.write_config()
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for(lambda: "reloaded" in self.d.read_log(), timeout=20, what="reload")
        self.assertEqual(self.d.stop(), 0)

    def test_reload_refuses_a_key_that_needs_a_restart(self):
        # The listener stays bound to the old port, so a reload that moves it must not say
        # "reloaded": it is refused, naming the key, and the old configuration stays in force.
        self.d.start()
        old_port = self.d.port
        self.d.port = free_port()
        self.d.write_config(sms='["3h"]')
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for(lambda: "reload refused" in self.d.read_log(), timeout=20,
                        what="refused reload")
        self.assertIn("daemon.listen cannot change on reload; restart nudged to apply it",
                      self.d.read_log())
        self.assertNotIn("reloaded", self.d.read_log())
        with socket.create_connection(("127.0.0.1", old_port), timeout=5):
            pass
        # Back to the old address, the other change applies.
        self.d.port = old_port
        self.d.write_config(sms='["3h"]')
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for(lambda: "reloaded" in self.d.read_log(), timeout=20, what="reload")
        self.assertEqual(self.d.stop(), 0)

    def test_import_through_the_daemon_skips_a_byte_order_mark(self):
        self.d.start()
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=2)
        path = os.path.join(self.d.dir, "bom.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\ufeff" + json.dumps(session("s1", start)) + "\n")
        r = self.d.ctl("events", "import", path)
        self.assertIn("line 1: appended at position 1", r.stdout)
        self.assertIn("(through the daemon)", r.stderr)

    def test_check_config(self):
        ok = subprocess.run([NUDGED, "--config", self.d.config, "--check-config"],
                            capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        # No webhook secret: valid, with a warning naming the key (exit 0 all the same).
        self.assertIn("is valid", ok.stdout)
        self.assertIn("warning", ok.stderr)
        self.assertIn("webhooks.secret: not set", ok.stderr)
        with open(self.d.config, "a") as f:
            f.write('\n[daemon2]\n')
        bad = subprocess.run([NUDGED, "--config", self.d.config, "--check-config"],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("daemon2", bad.stderr)
        # A directory reads as empty: it must not pass as a file of defaults.
        folder = subprocess.run([NUDGED, "--config", self.d.dir, "--check-config"],
                                capture_output=True, text=True)
        self.assertEqual(folder.returncode, 1, folder.stdout)
        self.assertIn("is a directory", folder.stderr)
        self.assertNotIn("is valid", folder.stdout)


class NotifyListener:
    """A NOTIFY_SOCKET as systemd provides it: a Unix datagram socket collecting messages."""

    def __init__(self, path):
        import socket
        import threading
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, {key: value})
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                data = self.sock.recv(4096).decode()
            except OSError:
                continue
            fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def having(self, key, value=None):
        return [f for _, f in self.messages if key in f and (value is None or f[key] == value)]

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


class SystemdNotifyTest(unittest.TestCase):
    """SPEC §7: READY after replay, STATUS lines, WATCHDOG from the loop, RELOADING/READY
    around a reload, STOPPING and exit 0 on SIGTERM."""

    def setUp(self):
        self.d = Daemon(self)
        self.notify = NotifyListener(os.path.join(self.d.dir, "notify.sock"))

    def tearDown(self):
        self.notify.close()
        self.d.close()

    def start(self):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="1000000")
        self.d.proc = subprocess.Popen([NUDGED, "--config", self.d.config], stdout=self.d.log,
                                       stderr=self.d.log, env=env)

    def test_ready_status_watchdog_reload_stopping(self):
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=2)
        self.d.import_events(session("s1", start), registration("r1", "s1", channels=("email",)))
        self.start()
        ready = self.d.wait_for(lambda: self.notify.having("READY", "1"), timeout=10,
                                what="READY=1")
        self.assertRegex(ready[0]["STATUS"],
                         r"^replayed 2 events at start; \d+ notifications pending; next due at ")
        # Pings every 500 ms (half of WATCHDOG_USEC), from the loop's own timer; a gap under
        # the whole interval is what systemd needs (the listener's clock is a busy thread).
        time.sleep(2.7)
        pings = [t for t, f in self.notify.messages if f.get("WATCHDOG") == "1"]
        self.assertGreaterEqual(len(pings), 4)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 1.0)

        # A good reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
        before = len(self.notify.having("READY", "1"))
        self.d.proc.send_signal(signal.SIGHUP)
        self.d.wait_for(lambda: len(self.notify.having("READY", "1")) > before, timeout=20,
                        what="READY after reload")
        reloading = self.notify.having("RELOADING", "1")
        self.assertEqual(len(reloading), 1)
        self.assertRegex(reloading[0]["MONOTONIC_USEC"], r"^\d+$")

        # A bad reload: refused, the daemon goes on, and says so in STATUS.
        with open(self.d.config, "a") as f:
            f.write("\n[nonsense]\n")
        before = len(self.notify.having("READY", "1"))
        self.d.proc.send_signal(signal.SIGHUP)
        again = self.d.wait_for(
            lambda: self.notify.having("READY", "1")[before:] or None, timeout=20,
            what="READY after a refused reload")
        self.assertIn("reload refused", again[0]["STATUS"])
        self.assertIsNone(self.d.proc.poll())

        self.d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.d.proc.wait(timeout=30), 0)
        self.assertTrue(self.notify.having("STOPPING", "1"))


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
