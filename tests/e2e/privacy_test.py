#!/usr/bin/env python3
"""End-to-end tests of health-grade privacy (issue #7) against the real nudged and nudgectl.

- Personal values are not readable in the bytes of the event database or its WAL.
- Erasure: after `nudgectl erase`, replay, plan, export (even with --include-personal-data),
  the admin API and the logs show nothing of the person; the integrity chain still verifies; a
  key store restored from before the erasure has the erased keys destroyed again at start.
- Backups: `nudgectl backup FILE` while the daemon runs; `verify` passes on the copy; a restore
  replays to the same plan.
- A missing or wrong master key stops the daemon with a clear error, writing nothing.

Usage: privacy_test.py --nudged PATH --nudgectl PATH
"""
import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

NUDGED = NUDGECTL = None

CONFIG = """
[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
admin_socket = "{dir}/admin.sock"
public_url = "https://reminders.example.org"
log_level = "trace"
{extra}

[channels.email]
kind = "file"
dir = "{dir}/outbox/email"

[channels.sms]
kind = "file"
dir = "{dir}/outbox/sms"

[policy]
email_reminders = ["7d", "1d"]
sms_reminders = ["2h"]
quiet_hours = ""

[accessibility]
coordinator = "email:access@example.org"
"""

# The person who is erased, and one who is not.
RILEY = ("Riley Morgan", "riley.morgan@example.org", "+14155550142", "4155550142",
         "needs a quiet seat near the door during a flare", "moved to a hospital ward")
CASEY = ("Casey Jordan", "casey.jordan@example.org", "+14155550199")
FACILITATOR = ("Sam Rivera", "sam.rivera@example.org")
# What staff write about a meeting can be personal too (a description, a cancel reason).
SESSION_TEXT = ("Ask Dana about the ramp", "Dana is in hospital this week",
                "Dana's chemo moved", "Dana's flare")
EVERYONE = RILEY + CASEY + FACILITATOR + SESSION_TEXT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


START = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=20)


def events():
    return [
        {"id": "evt-s1", "type": "session.scheduled", "data": {
            "session_id": "s-ibd", "group": "ibd", "title": "IBD peer support",
            "starts_at": utc(START), "time_zone": "UTC", "duration_minutes": 60,
            "join_url": "https://zoom.example.org/j/1",
            "facilitators": [{"name": FACILITATOR[0], "email": FACILITATOR[1]}]}},
        {"id": "evt-r1", "type": "registration.received", "data": {
            "registration_id": "r-riley", "session_id": "s-ibd",
            "participant": {"name": RILEY[0], "email": RILEY[1], "phone": RILEY[2]},
            "channels": ["email", "sms"], "sms_consent": True,
            "accommodations": [{"kind": "other", "details": RILEY[4]}]}},
        {"id": "evt-r2", "type": "registration.received", "data": {
            "registration_id": "r-riley-2", "session_id": "s-ibd",
            "participant": {"name": RILEY[0], "email": RILEY[1]},
            "channels": ["email"], "sms_consent": False, "accommodations": []}},
        {"id": "evt-c2", "type": "registration.cancelled", "data": {
            "registration_id": "r-riley-2", "reason": RILEY[5]}},
        {"id": "evt-r3", "type": "registration.received", "data": {
            "registration_id": "r-casey", "session_id": "s-ibd",
            "participant": {"name": CASEY[0], "email": CASEY[1], "phone": CASEY[2]},
            "channels": ["email", "sms"], "sms_consent": True, "accommodations": []}},
        {"id": "evt-o1", "type": "participant.opted_out", "data": {
            "channel": "sms", "address": RILEY[2]}},
        {"id": "evt-s2", "type": "session.scheduled", "data": {
            "session_id": "s-other", "group": "general", "title": "Peer support",
            "starts_at": utc(START + dt.timedelta(days=1)), "time_zone": "UTC",
            "duration_minutes": 60, "join_url": "https://zoom.example.org/j/2",
            "facilitators": [], "description": SESSION_TEXT[0]}},
        {"id": "evt-s2u", "type": "session.updated", "data": {
            "session_id": "s-other", "description": SESSION_TEXT[2]}},
        {"id": "evt-s2c", "type": "session.cancelled", "data": {
            "session_id": "s-other", "reason": SESSION_TEXT[1]}},
        {"id": "evt-he", "type": "series.scheduled", "data": {
            "series_id": "he", "group": "general", "title": "HE", "rrule": "FREQ=WEEKLY",
            "first_starts_at": utc(START), "time_zone": "UTC", "duration_minutes": 60,
            "join_url": "https://zoom.example.org/j/3", "facilitators": []}},
        {"id": "evt-hec", "type": "series.cancelled", "data": {
            "series_id": "he", "reason": SESSION_TEXT[3]}},
    ]


def tree_digest(path):
    """Every file under path with its bytes' digest: to show that nothing was written."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, path)] = hashlib.sha256(f.read()).hexdigest()
    return out


class Setup:
    def __init__(self, case, extra=""):
        self.case = case
        self.tmp = tempfile.TemporaryDirectory(prefix="nudged-privacy-")
        self.dir = self.tmp.name
        self.state = os.path.join(self.dir, "state")
        self.port = free_port()
        self.config = os.path.join(self.dir, "nudged.toml")
        self.write_config(extra)
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.proc = None

    def write_config(self, extra=""):
        with open(self.config, "w") as f:
            f.write(CONFIG.format(dir=self.dir, state=self.state, port=self.port, extra=extra))

    def ctl(self, *args, input=None, check=True, target=None):
        target = target or ["--config", self.config]
        r = subprocess.run([NUDGECTL, *target, *args], input=input, capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"nudgectl {args}: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def import_events(self, evs):
        return self.ctl("events", "import", "-", input="\n".join(json.dumps(e) for e in evs) + "\n")

    def run_nudged(self):
        """Runs nudged to completion (for start-up failures)."""
        with open(self.log_path, "a") as log:
            return subprocess.run([NUDGED, "--config", self.config], stdout=log, stderr=log,
                                  timeout=30).returncode

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([NUDGED, "--config", self.config], stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            self.case.assertIsNone(self.proc.poll(), self.read_log())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    c.request("GET", "/readyz")
                    if c.getresponse().status == 200:
                        return
                finally:
                    c.close()
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("nudged did not become ready\n" + self.read_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.case.assertEqual(self.proc.wait(timeout=30), 0, self.read_log())
        self.proc = None

    def read_log(self):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, predicate, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.read_log()}")

    def outbox_text(self):
        text = ""
        for channel in ("email", "sms"):
            d = os.path.join(self.dir, "outbox", channel)
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if name.startswith("."):
                    continue  # a message being written (renamed into place when complete)
                with open(os.path.join(d, name), errors="replace") as f:
                    text += f.read()
        return text

    def raw_db(self):
        raw = b""
        for name in ("nudged.db", "nudged.db-wal"):
            p = os.path.join(self.state, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    raw += f.read()
        return raw

    def replay_json(self, at, target=None):
        return json.loads(self.ctl("replay", "--json", "--at", at, target=target).stdout)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()


class PrivacyTest(unittest.TestCase):
    def setUp(self):
        self.s = Setup(self)

    def tearDown(self):
        self.s.close()

    def assert_absent(self, values, text, where):
        for v in values:
            self.assertNotIn(v, text, f"{v!r} appears in {where}")

    def test_database_bytes_hold_no_personal_values(self):
        self.s.import_events(events())
        raw = self.s.raw_db()
        self.assertGreater(len(raw), 0)
        for v in EVERYONE:
            self.assertNotIn(v.encode(), raw, f"{v!r} is readable in the event database")
        # The key store is a separate file, mode 0600, beside the log.
        keys = os.path.join(self.s.state, "nudged.db.keys")
        self.assertEqual(os.stat(keys).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.join(self.s.state, "master.key")).st_mode & 0o777, 0o600)
        # Export redacts by default and opens with the flag.
        plain = self.s.ctl("events", "export").stdout
        self.assert_absent(EVERYONE, plain, "a default export")
        full = self.s.ctl("events", "export", "--include-personal-data").stdout
        for v in (RILEY[0], RILEY[1], CASEY[0], FACILITATOR[1], RILEY[4], RILEY[5]) + SESSION_TEXT:
            self.assertIn(v, full)
        # nudgectl output without the flag carries ids only.
        for cmd in (("replay",), ("replay", "--json"), ("verify",)):
            r = self.s.ctl(*cmd)
            self.assert_absent(EVERYONE, r.stdout + r.stderr, f"nudgectl {cmd}")

    def test_erasure_reaches_every_path(self):
        pid = self.start_with_riley_confirmed()
        # Confirmations went out to both, so the daemon opened Riley's values once.
        self.s.wait_for(lambda: CASEY[1] in self.s.outbox_text(), "Casey's confirmation")
        backup = os.path.join(self.s.dir, "before-erasure.db")
        self.s.ctl("backup", backup)

        r = self.s.ctl("erase", "--participant", pid)
        self.assertIn("erased", r.stdout)
        self.s.wait_for(lambda: "destroyed" in self.s.read_log(), "the keys to be destroyed")
        at = utc(START - dt.timedelta(days=10))
        state = self.s.replay_json(at)
        riley = [r for r in state["registrations"] if r["registration_id"].startswith("r-riley")]
        self.assertTrue(riley and all(r["participant_erased"] for r in riley), riley)
        self.assertFalse([n for n in state["plan"] if (n["registration_id"] or "").startswith("r-riley")])
        self.assertTrue([n for n in state["plan"] if n["registration_id"] == "r-casey"])
        # Admin API and exports, even asking for personal data.
        admin = (self.s.ctl("status").stdout + self.s.ctl("schedule").stdout
                 + self.s.ctl("sessions").stdout)
        self.assert_absent(EVERYONE, admin, "the admin API")
        full = self.s.ctl("events", "export", "--include-personal-data").stdout
        self.assert_absent(RILEY, full, "an export with personal data after erasure")
        self.assertIn(CASEY[1], full)
        self.s.ctl("verify")  # the integrity chain is untouched

        # A key store restored from before the erasure: the erased keys are destroyed again.
        self.s.stop()
        shutil.copyfile(backup + ".keys", os.path.join(self.s.state, "nudged.db.keys"))
        for suffix in ("-wal", "-shm"):
            p = os.path.join(self.s.state, "nudged.db.keys" + suffix)
            if os.path.exists(p):
                os.remove(p)
        log_before = len(self.s.read_log())
        self.s.start()
        self.s.wait_for(lambda: "destroyed" in self.s.read_log()[log_before:],
                        "the restored keys to be destroyed")
        full = self.s.ctl("events", "export", "--include-personal-data").stdout
        self.assert_absent(RILEY, full, "an export after restoring old keys")
        self.s.stop()
        log = self.s.read_log()
        self.assert_absent(EVERYONE, log, "the daemon's trace log")

    # Riley comes back after an erasure: the fixture, the new registration, the export.
    RILEY_BACK = {"id": "evt-back", "type": "registration.received", "data": {
        "registration_id": "r-riley-back", "session_id": "s-ibd",
        "participant": {"name": RILEY[0], "email": RILEY[1]},
        "channels": ["email"], "sms_consent": False, "accommodations": []}}

    def start_with_riley_confirmed(self):
        """Imports the fixture, starts the daemon, waits for Riley's confirmation; Riley's id."""
        self.s.import_events(events())
        exported = [json.loads(line) for line in self.s.ctl("events", "export").stdout.splitlines()
                    if line.strip()]
        pid = next(e for e in exported if e["id"] == "evt-r1")["data"]["participant"]["participant_id"]
        self.s.start()
        self.s.wait_for(lambda: RILEY[1] in self.s.outbox_text(), "Riley's first confirmation")
        return pid

    def import_and_wait_for_a_new_confirmation_to_riley(self, evs):
        sent_before = self.s.outbox_text().count(RILEY[1])
        self.s.import_events(evs)
        self.s.wait_for(lambda: self.s.outbox_text().count(RILEY[1]) > sent_before,
                        "a confirmation for the new registration")

    def export_with_personal_data(self):
        return {e["id"]: e for e in
                (json.loads(line) for line in self.s.ctl(
                    "events", "export", "--include-personal-data").stdout.splitlines()
                 if line.strip())}

    def test_someone_erased_who_registers_again_gets_their_messages(self):
        # Riley asks to be erased, then months later signs up again with the same address.
        # They must be a new participant (new id, new keys): with the old id nothing could be
        # sent to them, and every start would destroy their new key again.
        old_pid = self.start_with_riley_confirmed()
        self.s.ctl("erase", "--participant", old_pid)
        self.s.wait_for(lambda: "destroyed" in self.s.read_log(), "the keys to be destroyed")
        self.import_and_wait_for_a_new_confirmation_to_riley([self.RILEY_BACK])
        state = self.s.replay_json(utc(START - dt.timedelta(days=10)))
        back = next(r for r in state["registrations"] if r["registration_id"] == "r-riley-back")
        self.assertFalse(back["participant_erased"], back)
        self.assertTrue([n for n in state["plan"] if n["registration_id"] == "r-riley-back"])

        # A restart re-applies the erasure: the old keys only.
        self.s.stop()
        self.s.start()
        self.s.stop()
        full = self.export_with_personal_data()
        self.assertNotEqual(full["evt-back"]["data"]["participant"]["participant_id"], old_pid)
        self.assertEqual(full["evt-back"]["data"]["participant"]["name"], RILEY[0])
        self.assertNotIn(RILEY[0], json.dumps(full["evt-r1"]))

    def test_an_erase_is_answered_once_the_keys_are_gone_from_the_file(self):
        # The daemon deletes erased keys' rows on its writer thread, after the erasure is
        # durable. `nudgectl erase` must not return before that: whoever reads the files next
        # (an export, a backup) must find no key of the erased. Another connection holds the
        # key store's write lock for 1.5 s, so the deletion has to wait for it.
        pid = self.start_with_riley_confirmed()
        keys = os.path.join(self.s.state, "nudged.db.keys")
        released = {}

        def hold_the_lock():
            db = sqlite3.connect(keys, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            time.sleep(1.5)
            released["at"] = time.monotonic()
            db.execute("ROLLBACK")
            db.close()
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        time.sleep(0.2)
        self.s.ctl("erase", "--participant", pid)
        returned = time.monotonic()
        holder.join()
        self.assertGreaterEqual(returned, released["at"], "answered before the keys were deleted")
        db = sqlite3.connect(f"file:{keys}?mode=ro", uri=True)
        left = db.execute("SELECT count(*) FROM keys WHERE subject = ?",
                          ("participant/" + pid,)).fetchone()[0]
        db.close()
        self.assertEqual(left, 0)

    def test_a_later_erasure_leaves_an_address_opted_out_again_readable(self):
        # Riley is erased; their phone number (now someone else's, or theirs again) opts out
        # once more, sealed under a new key; then Casey is erased. Casey's erasure destroys
        # Casey's keys only: the new opt-out of that number stays readable to an export.
        riley_pid = self.start_with_riley_confirmed()
        self.s.ctl("erase", "--participant", riley_pid)
        self.s.wait_for(lambda: "destroyed" in self.s.read_log(), "Riley's keys to be destroyed")
        self.s.import_events([{"id": "evt-o2", "type": "participant.opted_out", "data": {
            "channel": "sms", "address": RILEY[2]}}])
        self.assertEqual(self.export_with_personal_data()["evt-o2"]["data"]["address"], RILEY[2])
        casey_pid = self.export_with_personal_data()["evt-r3"]["data"]["participant"]["participant_id"]
        log_before = len(self.s.read_log())
        self.s.ctl("erase", "--participant", casey_pid)
        self.s.wait_for(lambda: "destroyed" in self.s.read_log()[log_before:],
                        "Casey's keys to be destroyed")
        full = self.export_with_personal_data()
        self.assertNotIn(CASEY[0], json.dumps(full["evt-r3"]))
        self.assertEqual(full["evt-o2"]["data"]["address"], RILEY[2])

    def test_an_erasure_and_a_new_registration_in_one_import(self):
        # The registration is checked while the erasure before it is still on its way to the
        # log (not yet in State): it must get a new participant id all the same.
        old_pid = self.start_with_riley_confirmed()
        self.import_and_wait_for_a_new_confirmation_to_riley([
            {"id": "evt-erase", "type": "participant.erased", "data": {"participant_id": old_pid}},
            self.RILEY_BACK])
        self.s.stop()
        full = self.export_with_personal_data()
        self.assertNotEqual(full["evt-back"]["data"]["participant"]["participant_id"], old_pid)
        self.assertEqual(full["evt-back"]["data"]["participant"]["name"], RILEY[0])

    def test_offline_import_gives_someone_erased_a_new_id_too(self):
        # The same rule without a daemon: an erasure in the log, and one earlier in the file.
        self.s.import_events(events())
        exported = [json.loads(line) for line in self.s.ctl("events", "export").stdout.splitlines()]
        old_pid = next(e for e in exported if e["id"] == "evt-r1")["data"]["participant"]["participant_id"]
        casey_pid = next(e for e in exported if e["id"] == "evt-r3")["data"]["participant"]["participant_id"]
        self.s.ctl("erase", "--participant", old_pid)
        casey_back = {"id": "evt-casey-back", "type": "registration.received", "data": {
            "registration_id": "r-casey-back", "session_id": "s-ibd",
            "participant": {"name": CASEY[0], "email": CASEY[1]},
            "channels": ["email"], "sms_consent": False, "accommodations": []}}
        self.s.import_events([
            self.RILEY_BACK,
            {"id": "evt-erase-casey", "type": "participant.erased",
             "data": {"participant_id": casey_pid}},
            casey_back])
        full = self.export_with_personal_data()
        for event_id, pid, who in (("evt-back", old_pid, RILEY), ("evt-casey-back", casey_pid, CASEY)):
            participant = full[event_id]["data"]["participant"]
            self.assertNotEqual(participant["participant_id"], pid)
            self.assertEqual(participant["name"], who[0])
        self.s.start()  # a start destroys the erased people's keys again, not the new ones
        self.s.stop()
        self.assertEqual(self.export_with_personal_data()["evt-back"]["data"]["participant"]["name"],
                         RILEY[0])

    def test_backup_while_running_verifies_and_restores_to_the_same_plan(self):
        self.s.import_events(events())
        self.s.start()
        self.s.wait_for(lambda: CASEY[1] in self.s.outbox_text(), "the confirmations")

        # Every message due at once has its outcome in the log before the copy is made: one
        # still in flight would be unsettled in the copy and sent (or expired) again in its plan.
        def nothing_due_unsettled():
            plan = json.loads(self.s.ctl("schedule").stdout)["plan"]
            soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
            return not [n for n in plan
                        if dt.datetime.fromisoformat(n["due_at"].replace("Z", "+00:00")) < soon]
        self.s.wait_for(nothing_due_unsettled, "the immediate messages recorded as sent")
        backup = os.path.join(self.s.dir, "backup", "copy.db")
        os.makedirs(os.path.dirname(backup))
        r = self.s.ctl("backup", backup)
        self.assert_absent(EVERYONE, r.stdout + r.stderr, "nudgectl backup")
        self.assertEqual(os.stat(backup).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(backup + ".keys").st_mode & 0o777, 0o600)
        self.s.ctl("verify", target=["--db", backup])
        self.s.stop()
        at = utc(START - dt.timedelta(days=10))
        original = self.s.replay_json(at)

        # Restore into a fresh state directory (the master and participant-id keys are kept
        # apart from backups, so they are copied separately).
        restored = Setup(self)
        try:
            os.makedirs(restored.state, mode=0o700)
            shutil.copyfile(backup, os.path.join(restored.state, "nudged.db"))
            shutil.copyfile(backup + ".keys", os.path.join(restored.state, "nudged.db.keys"))
            for key in ("master.key", "participant-id.key"):
                shutil.copyfile(os.path.join(self.s.state, key), os.path.join(restored.state, key))
            self.assertEqual(restored.replay_json(at)["plan"], original["plan"])
            restored.start()
            full = restored.ctl("events", "export", "--include-personal-data").stdout
            self.assertIn(RILEY[1], full)
            restored.stop()
        finally:
            restored.close()

    def test_missing_or_wrong_master_key_stops_the_start_and_writes_nothing(self):
        key_a = os.path.join(self.s.dir, "master-a.key")
        key_b = os.path.join(self.s.dir, "master-b.key")
        with open(key_a, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        with open(key_b, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        missing = os.path.join(self.s.dir, "no-such.key")

        self.s.write_config(f'master_key_file = "{missing}"')
        self.assertNotEqual(self.s.run_nudged(), 0)
        self.assertIn("daemon.master_key_file", self.s.read_log())
        self.assertFalse(os.path.exists(self.s.state), "state_dir was created")

        self.s.write_config(f'master_key_file = "{key_a}"')
        self.s.import_events(events())
        self.s.start()
        self.s.stop()
        self.assertFalse(os.path.exists(os.path.join(self.s.state, "master.key")))

        self.s.write_config(f'master_key_file = "{key_b}"')
        before = tree_digest(self.s.state)
        self.assertNotEqual(self.s.run_nudged(), 0)
        self.assertIn("master key does not open the key store", self.s.read_log())
        self.assertEqual(tree_digest(self.s.state), before, "a refused start wrote something")
        r = self.s.ctl("events", "export", "--include-personal-data", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("master key", r.stderr)

    def test_a_missing_key_store_or_participant_key_stops_the_start_and_writes_nothing(self):
        # A restore that copied the log but forgot a key file: made anew, every personal value
        # would stay unreadable (Riley and Casey sent nothing, silently) or everyone would come
        # back as new participants. Refused, naming the file, by nudged and offline nudgectl.
        self.s.import_events(events())
        self.s.start()
        self.s.stop()
        for name in ("nudged.db.keys", "participant-id.key"):
            with self.subTest(missing=name):
                path = os.path.join(self.s.state, name)
                os.rename(path, path + ".away")
                before = tree_digest(self.s.state)
                self.assertNotEqual(self.s.run_nudged(), 0)
                self.assertIn(f"{path} does not exist", self.s.read_log())
                r = self.s.ctl("events", "import", "-", input=json.dumps(events()[0]) + "\n",
                               check=False)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(f"{path} does not exist", r.stderr)
                r = self.s.ctl("erase", "--participant", "p-nobody", check=False)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(f"{path} does not exist", r.stderr)
                self.assertEqual(tree_digest(self.s.state), before, "a refused start wrote something")
                os.rename(path + ".away", path)
        self.s.start()
        self.s.stop()
        riley = self.export_with_personal_data()["evt-r1"]["data"]["participant"]
        self.assertEqual(riley["email"], RILEY[1])

    def test_staff_who_opted_out_get_nothing(self):
        # SPEC §4: no email to an opted-out address. The coordinator's address comes from the
        # configuration, the facilitator's from the session (sealed, matched by blind index).
        opt_outs = [{"id": f"evt-staff-{i}", "type": "participant.opted_out",
                     "data": {"channel": "email", "address": address}}
                    for i, address in enumerate(("access@example.org", FACILITATOR[1]))]
        self.s.import_events(opt_outs + events())
        self.s.start()
        plan = lambda: json.loads(self.s.ctl("schedule").stdout)["plan"]
        self.s.wait_for(lambda: not [n for n in plan() if n["kind"] == "registration.confirmation"],
                        "the confirmations recorded as sent")
        kinds = {n["kind"] for n in plan()}
        self.assertIn("session.reminder", kinds)
        self.assertNotIn("facilitator.roster", kinds)
        self.assertNotIn("accommodation.escalation", kinds)
        sent = [json.loads(line)["data"]["notification_id"] for line in
                self.s.ctl("events", "export").stdout.splitlines()
                if '"notification.sent"' in line]
        self.assertTrue([i for i in sent if i.startswith("registration.confirmation:r-riley")])
        self.assertEqual([i for i in sent if i.startswith("accommodation.request")], [])

    def test_offline_replay_leaves_out_coordinators_who_opted_out(self):
        # nudgectl replay plans as the daemon does: with the keys beside the log it knows the
        # coordinator's address opted out (as any spelling of it: "Access@" here).
        def coordinator_kinds():
            r = self.s.ctl("replay", "--json")
            kinds = {n["kind"] for n in json.loads(r.stdout)["plan"]}
            return kinds & {"accommodation.request", "accommodation.escalation"}, r.stderr
        self.s.import_events(events())
        kinds, _ = coordinator_kinds()
        self.assertIn("accommodation.request", kinds)
        self.s.import_events([{"id": "evt-staff", "type": "participant.opted_out",
                               "data": {"channel": "email", "address": "Access@example.org"}}])
        kinds, err = coordinator_kinds()
        self.assertEqual(kinds, set(), err)
        self.assertEqual(err, "")
        # Without the master key it cannot tell, and says so.
        master = os.path.join(self.s.state, "master.key")
        os.rename(master, master + ".away")
        kinds, err = coordinator_kinds()
        os.rename(master + ".away", master)
        self.assertIn("accommodation.request", kinds)
        self.assertIn("does not leave out coordinators who opted out", err)

    def test_a_coordinator_leaves_by_the_link_in_their_email(self):
        # Staff emails carry List-Unsubscribe too; its token names a hash of the address.
        self.start_with_riley_confirmed()
        outbox = os.path.join(self.s.dir, "outbox", "email")
        def request_email():
            for name in sorted(os.listdir(outbox)):
                if name.startswith("."):
                    continue
                text = open(os.path.join(outbox, name), errors="replace").read()
                if "To: access@example.org" in text:
                    return text
            return None
        self.s.wait_for(request_email, "the accommodation request to the coordinator")
        header = next(line for line in request_email().splitlines()
                      if line.startswith("List-Unsubscribe: "))
        url = header.split("<", 1)[1].split(">", 1)[0]
        self.assertNotIn("access", url)
        path = url[len("https://reminders.example.org"):]
        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        c.request("POST", path, body=b"List-Unsubscribe=One-Click",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        self.assertEqual(r.status, 202, r.read())
        c.close()
        opt_outs = [e["data"] for e in self.export_with_personal_data().values()
                    if e["type"] == "participant.opted_out"]
        self.assertIn({"channel": "email", "address": "access@example.org"}, opt_outs)
        kinds = {n["kind"] for n in json.loads(self.s.ctl("schedule").stdout)["plan"]}
        self.assertNotIn("accommodation.escalation", kinds)
        # Nobody is left to hear of accommodations: the operator is told, without the address.
        warning = "every accessibility coordinator (1) has opted out"
        self.s.wait_for(lambda: warning in self.s.read_log(), "the warning that no one is left")
        line = next(l for l in self.s.read_log().splitlines() if warning in l)
        self.assertNotIn("access", line.replace("accessibility", ""))

    def test_nudgectl_finds_the_keys_in_state_dir_when_the_database_is_elsewhere(self):
        # [daemon] database may be an absolute path outside state_dir; the participant-id key
        # and the development master key stay in state_dir, for nudgectl --config too (it
        # looked beside the database and made a second pair there).
        data = os.path.join(self.s.dir, "data")
        os.makedirs(data)
        self.s.write_config(f'database = "{data}/nudged.db"')
        self.s.import_events(events())
        self.assertEqual(sorted(os.listdir(self.s.state)), ["master.key", "participant-id.key"])
        self.assertNotIn("participant-id.key", os.listdir(data))
        self.s.start()
        self.s.wait_for(lambda: RILEY[1] in self.s.outbox_text(), "Riley's confirmation")


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
