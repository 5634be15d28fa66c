#!/usr/bin/env python3
"""End-to-end tests of nudged as a systemd service would run it (SPEC §7), without systemd.

Run by ctest as:
  systemd_test.py --nudged PATH --nudgectl PATH

The service manager's side is played by the test: a real NOTIFY_SOCKET datagram listener with
WATCHDOG_USEC set, signals as systemctl sends them (SIGHUP for reload, SIGTERM for stop,
SIGSTOP to freeze the loop), and, for the journal, a datagram socket bound where journald's
would be (in a private mount namespace, so the machine's /run is untouched). Helpers (the
Daemon fixture, events) come from daemon_test.py beside this file.
"""
import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_test as base  # noqa: E402
from daemon_test import Daemon, NotifyListener, registration, session  # noqa: E402

PERSONAL = ("Riley", "riley@example.org", "+14155550142", "4155550142")


def now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def process_state(pid):
    """The state letter of /proc/PID/stat: "T" once a SIGSTOP has taken effect."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def registrations(n, sid):
    out = []
    for i in range(n):
        r = registration(f"r{i}", sid, channels=("email",))
        r["data"]["participant"]["email"] = f"riley{i}@example.org"
        out.append(r)
    return out


class ServiceTest(unittest.TestCase):
    """sd_notify as systemd sees it: READY after replay, STATUS, WATCHDOG from the loop (and
    not from a frozen one), RELOADING/READY, a refused reload, STOPPING and exit 0."""

    def setUp(self):
        self.d = Daemon(self)
        self.notify = NotifyListener(os.path.join(self.d.dir, "notify.sock"))

    def tearDown(self):
        self.notify.close()
        self.d.close()

    def start(self):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="1000000")
        self.d.proc = subprocess.Popen([base.NUDGED, "--config", self.d.config],
                                       stdout=self.d.log, stderr=self.d.log, env=env)

    def pings(self, since=0.0, until=None):
        return [t for t, f in list(self.notify.messages)
                if f.get("WATCHDOG") == "1" and t >= since and (until is None or t <= until)]

    def test_ready_after_replay_with_status(self):
        start = now() + dt.timedelta(hours=2)
        self.d.import_events(session("s1", start), registration("r1", "s1", channels=("email",)))
        self.start()
        ready = self.d.wait_for(lambda: self.notify.having("READY", "1"), timeout=10,
                                what="READY=1")
        self.assertEqual(len(ready), 1)
        self.assertRegex(ready[0]["STATUS"],
                         r"^replayed 2 events at start; \d+ notifications pending; next due at "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # Nothing announced before READY but the watchdog: READY is the first status.
        first = next(f for _, f in self.notify.messages if "WATCHDOG" not in f)
        self.assertEqual(first.get("READY"), "1")

        # STATUS follows the plan: once the confirmation and the roster are out, fewer are
        # pending (refreshed every 2 s, only when it changed).
        def pending(status):
            return int(re.search(r"; (\d+) notifications pending", status).group(1))
        # A line may change before the count does ("next due at" moves when a send is
        # dispatched), so wait for one with fewer pending rather than for the first change.
        later = self.d.wait_for(
            lambda: [f["STATUS"] for f in self.notify.having("STATUS")
                     if "READY" not in f
                     and pending(f["STATUS"]) < pending(ready[0]["STATUS"])],
            timeout=20, what="a STATUS update with fewer pending")
        self.assertTrue(later[-1].startswith("replayed 2 events at start; "))
        self.assertEqual(self.d.stop(), 0)

    def test_watchdog_pings_from_the_loop_and_stop_when_it_is_frozen(self):
        self.start()
        self.d.wait_for(lambda: self.notify.having("READY", "1"), timeout=10, what="READY=1")
        time.sleep(2.5)
        pings = self.pings()
        # Every 500 ms: half of WATCHDOG_USEC, so a late ping still beats the deadline. The
        # bounds are loose because the listener's own clock is a thread on a busy machine.
        self.assertGreaterEqual(len(pings), 4)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 1.0)
        self.assertGreater(sum(gaps) / len(gaps), 0.375)  # and not much more often

        # A frozen loop sends nothing: this is what lets systemd kill and restart it. Counted
        # once the process is seen stopped and a datagram sent just before has been taken in.
        self.d.proc.send_signal(signal.SIGSTOP)
        self.d.wait_for(lambda: process_state(self.d.proc.pid) == "T", timeout=20,
                        what="the process stopped")
        time.sleep(0.3)
        frozen = len(self.pings())
        time.sleep(1.5)
        self.assertEqual(len(self.pings()), frozen)
        resumed = time.monotonic()
        self.d.proc.send_signal(signal.SIGCONT)
        self.d.wait_for(lambda: len(self.pings(resumed)) >= 3, timeout=20,
                        what="pings after SIGCONT")
        self.assertIsNone(self.d.proc.poll())
        self.assertEqual(self.d.stop(), 0)

    def test_reload_and_refused_reload_keep_the_old_configuration(self):
        start = now() + dt.timedelta(hours=2)
        self.d.import_events(session("s1", start))
        self.start()
        self.d.wait_for(lambda: self.notify.having("READY", "1"), timeout=10, what="READY=1")

        # A good reload: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd reads
        # it: close to our own time.monotonic()), then READY=1 again.
        self.d.proc.send_signal(signal.SIGHUP)
        sent = time.monotonic()
        self.d.wait_for(lambda: len(self.notify.having("READY", "1")) == 2, timeout=20,
                        what="READY after reload")
        reloading = self.notify.having("RELOADING", "1")
        self.assertEqual(len(reloading), 1)
        self.assertLess(abs(int(reloading[0]["MONOTONIC_USEC"]) / 1e6 - sent), 2.0)
        order = [k for _, f in self.notify.messages for k in ("RELOADING", "READY") if k in f]
        self.assertEqual(order, ["READY", "RELOADING", "READY"])

        # A bad reload that would also move the email outbox: refused, the daemon goes on
        # with the old configuration (messages keep landing in the old outbox).
        moved = os.path.join(self.d.dir, "moved")
        with open(self.d.config) as f:
            text = f.read()
        with open(self.d.config, "w") as f:
            f.write(text.replace(f'dir = "{self.d.dir}/outbox/email"', f'dir = "{moved}"')
                    + "\n[nonsense]\n")
        self.d.proc.send_signal(signal.SIGHUP)
        refused = self.d.wait_for(lambda: self.notify.having("READY", "1")[2:], timeout=20,
                                  what="READY after the refused reload")
        self.assertIn("reload refused", refused[0]["STATUS"])
        self.assertIn("nonsense", self.d.read_log())
        self.assertEqual(len(self.notify.having("RELOADING", "1")), 2)
        self.assertIsNone(self.d.proc.poll())
        # nudgectl reads the (now bad) file too: give it the daemon's admin socket instead (the
        # daemon is the single writer while it runs: straight to the database is refused).
        sock = os.path.join(self.d.dir, "admin.sock")
        subprocess.run([base.NUDGECTL, "--socket", sock, "events", "import", "-"], check=True,
                       input=json.dumps(registration("r1", "s1", channels=("email",))) + "\n",
                       capture_output=True, text=True, timeout=60)
        self.d.wait_for(lambda: any(n.startswith("registration.confirmation")
                                    for n in self.d.outbox("email")),
                        timeout=10, what="confirmation in the old outbox")
        self.assertFalse(os.path.exists(moved))
        self.d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.d.proc.wait(timeout=30), 0)

    def test_sigterm_records_sends_in_flight_and_exits_zero(self):
        start = now() + dt.timedelta(hours=2)
        self.d.write_config(email='[]', sms='[]')
        self.d.import_events(session("s1", start))
        self.start()
        self.d.wait_for(lambda: self.notify.having("READY", "1"), timeout=10, what="READY=1")
        # Many confirmations at once, and SIGTERM as soon as the first message is on disk:
        # the rest are in flight or queued. The outbox is watched while nudgectl is still
        # running (its exit, with the sanitizers' checks, can outlast all the sends).
        count = 100
        lines = "\n".join(json.dumps(e) for e in registrations(count, "s1")) + "\n"
        batch = os.path.join(self.d.dir, "registrations.jsonl")
        with open(batch, "w") as f:
            f.write(lines)
        importer = subprocess.Popen([base.NUDGECTL, "--config", self.d.config, "events",
                                     "import", batch], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not [n for n in self.d.outbox("email")
                   if n.startswith("registration.") and not n.startswith(".")]:
            self.assertLess(time.time(), deadline, self.d.read_log())
            time.sleep(0.002)
        self.d.proc.send_signal(signal.SIGTERM)
        _, err = importer.communicate(timeout=60)
        self.assertEqual(importer.returncode, 0, err)
        self.assertEqual(self.d.proc.wait(timeout=30), 0)
        self.assertTrue(self.notify.having("STOPPING", "1"))
        self.assertIn("STATUS", self.notify.having("STOPPING", "1")[0])
        # The case under test: sends were in flight when SIGTERM came.
        in_flight = re.search(r"stopping: (\d+) sends in flight", self.d.read_log())
        self.assertGreater(int(in_flight.group(1)), 0)
        # Every message that went out is recorded as sent: none to be repeated after restart.
        written = [n for n in self.d.outbox("email") if not n.startswith(".")]
        sent = self.d.outcomes()
        self.assertGreater(len(written), 0)
        self.assertEqual(len(written), len(sent), self.d.read_log())
        before = len(sent)
        # The rest go out after a restart, once each.
        self.start()

        def confirmations():
            return [e for e in self.d.outcomes()
                    if e["data"]["notification_id"].startswith("registration.confirmation")]
        self.d.wait_for(lambda: len(confirmations()) == count, timeout=60,
                        what="every confirmation")
        ids = [e["data"]["notification_id"] for e in self.d.outcomes()]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertGreater(len(ids), before)
        self.assertEqual(self.d.stop(), 0)


    def test_sigterm_during_a_long_replay_stops_at_once(self):
        # A big log takes a while to replay; systemctl stop must not wait for it.
        start = now() + dt.timedelta(days=30)
        path = os.path.join(self.d.dir, "sessions.jsonl")
        with open(path, "w") as f:
            for i in range(100000):
                f.write(json.dumps(session(f"s{i}", start)) + "\n")
        r = subprocess.run([base.NUDGECTL, "--config", self.d.config, "events", "import", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           timeout=240)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start()
        # The loop runs (its watchdog pings come during the replay): signals are its own.
        self.d.wait_for(lambda: self.pings(), timeout=30, what="a watchdog ping")
        if self.notify.having("READY", "1"):
            self.skipTest("this build replays 100,000 events before the first ping")
        sent = time.monotonic()
        self.d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.d.proc.wait(timeout=60), 0)
        elapsed = time.monotonic() - sent
        log = self.d.read_log()
        self.assertIn("replay stopped after", log)
        self.assertFalse(self.notify.having("READY", "1"))
        self.assertLess(elapsed, 3.0, log)


class JournalListener:
    """journald's native socket: datagrams of KEY=value lines, or KEY\\n<le64 size><value>\\n
    for values with a newline (systemd's journal-native-protocol)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.entries = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def parse(data):
        fields, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                fields[k.decode()] = v.decode()
                i = nl + 1
            else:
                size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
                fields[line.decode()] = data[nl + 9:nl + 9 + size].decode()
                i = nl + 9 + size + 1
        return fields

    def run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except OSError:
                continue
            self.entries.append(self.parse(data))

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def can_fake_journald():
    if not os.path.isdir("/run/systemd") or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return r.returncode == 0


class LogTest(unittest.TestCase):
    """log_format json and journal: structured fields (notification id, channel, attempt,
    position), nothing personal, no crash without journald."""

    def setUp(self):
        self.d = Daemon(self)

    def tearDown(self):
        self.d.close()

    def use_format(self, fmt):
        with open(self.d.config) as f:
            text = f.read()
        with open(self.d.config, "w") as f:
            f.write(text.replace('log_level = "trace"',
                                 f'log_level = "trace"\nlog_format = "{fmt}"'))

    def run_once(self, cmd=None, env=None):
        """Starts nudged on a fresh session with one registration (both confirmations go
        out at once), waits for them, stops it; returns stderr."""
        self.d.import_events(session("s1", now() + dt.timedelta(hours=2)),
                             registration("r1", "s1", channels=("email", "sms")))
        err_path = os.path.join(self.d.dir, "stderr")
        with open(err_path, "w") as err:
            self.d.proc = subprocess.Popen(
                (cmd or []) + [base.NUDGED, "--config", self.d.config],
                stdout=subprocess.DEVNULL, stderr=err, env=env)
            self.d.wait_for(lambda: len(self.d.outcomes()) >= 3, timeout=10,
                            what="the confirmations and the roster")
            self.assertEqual(self.d.stop(), 0)
        with open(err_path) as f:
            return f.read()

    def test_json_lines_with_fields(self):
        self.use_format("json")
        err = self.run_once()
        lines = [json.loads(line) for line in err.splitlines()]  # every line is JSON
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual(list(line)[:3], ["ts", "level", "msg"])
            self.assertRegex(line["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(line["level"], ("trace", "debug", "info", "warn", "error"))
        replayed = [x for x in lines if x["msg"].startswith("replayed")]
        self.assertEqual(replayed[0]["position"], 2)
        sent = [x for x in lines if x["msg"].startswith("sent ")]
        self.assertEqual(sorted(x["channel"] for x in sent
                                if x["notification_id"].startswith("registration.")),
                         ["email", "sms"])
        for x in sent:
            self.assertIn(x["notification_id"], x["msg"])
            self.assertEqual(x["attempt"], 1)
        recorded = [x for x in lines if x["msg"].startswith("recorded the outcome")]
        self.assertTrue(recorded)
        self.assertTrue(all(isinstance(x["position"], int) for x in recorded))
        for secret in PERSONAL:
            self.assertNotIn(secret, err)

    def test_journal_without_journald_logs_to_stderr(self):
        self.use_format("journal")
        # A private mount namespace with an empty /run/systemd: surely no journald, even on
        # a machine that has one.
        cmd = None
        if can_fake_journald():
            empty = os.path.join(self.d.dir, "empty-run-systemd")
            os.makedirs(empty)
            cmd = ["unshare", "-m", "sh", "-c", f'mount --bind "{empty}" /run/systemd && '
                   'exec "$0" "$@"']
        elif os.path.exists("/run/systemd/journal/socket"):
            self.skipTest("journald runs here and no private mount namespace is available")
        err = self.run_once(cmd)
        self.assertIn("journald is not running", err)
        self.assertIn("sent registration.confirmation", err)
        for secret in PERSONAL:
            self.assertNotIn(secret, err)

    def journal_run(self, fmt, journal_stream=None):
        if not can_fake_journald():
            self.skipTest("no private mount namespace (unshare -m) to stand in for journald")
        self.use_format(fmt)
        fake = os.path.join(self.d.dir, "run-systemd")
        os.makedirs(os.path.join(fake, "journal"))
        journal = JournalListener(os.path.join(fake, "journal", "socket"))
        try:
            env = dict(os.environ)
            env.pop("JOURNAL_STREAM", None)
            if journal_stream:
                env["JOURNAL_STREAM"] = journal_stream
            cmd = ["unshare", "-m", "sh", "-c",
                   f'mount --bind "{fake}" /run/systemd && exec "$0" "$@"']
            err = self.run_once(cmd, env)
            time.sleep(0.3)
        finally:
            journal.close()
        return err, journal.entries

    def test_journal_entries_carry_fields(self):
        err, entries = self.journal_run("journal")
        self.assertEqual(err, "")
        self.assertTrue(entries)
        for e in entries:
            self.assertEqual(e["SYSLOG_IDENTIFIER"], "nudged")
            self.assertIn(e["PRIORITY"], ("3", "4", "6", "7"))
            self.assertNotIn("CODE_FILE", e)
        replayed = [e for e in entries if e["MESSAGE"].startswith("replayed")]
        self.assertEqual(replayed[0]["POSITION"], "2")
        sent = [e for e in entries if e["MESSAGE"].startswith("sent ")]
        self.assertTrue(sent)
        for e in sent:
            self.assertEqual(e["PRIORITY"], "6")
            self.assertIn(e["NOTIFICATION_ID"], e["MESSAGE"])
            self.assertIn(e["CHANNEL"], ("email", "sms"))
            self.assertEqual(e["ATTEMPT"], "1")
        text = json.dumps(entries)
        for secret in PERSONAL:
            self.assertNotIn(secret, text)

    def test_text_on_the_journal_stream_becomes_journal(self):
        # systemd's StandardError=journal sets JOURNAL_STREAM to stderr's device:inode. Here
        # stderr is a file in the test's directory: name it.
        err_path = os.path.join(self.d.dir, "stderr")
        open(err_path, "w").close()
        st = os.stat(err_path)
        # run_once reopens the same file with "w" (same inode): the daemon's stderr matches.
        err, entries = self.journal_run("text", f"{st.st_dev}:{st.st_ino}")
        self.assertEqual(err, "")
        self.assertTrue(any(e["MESSAGE"].startswith("sent ") and "NOTIFICATION_ID" in e
                            for e in entries))

    def test_text_elsewhere_stays_text(self):
        err, entries = self.journal_run("text", "1:1")  # another stream: not stderr
        self.assertEqual(entries, [])
        self.assertIn("[info] sent registration.confirmation", err)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nudged", required=True)
    parser.add_argument("--nudgectl", required=True)
    args, rest = parser.parse_known_args()
    base.NUDGED, base.NUDGECTL = os.path.abspath(args.nudged), os.path.abspath(args.nudgectl)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
