#!/usr/bin/env python3
"""Scheduling benchmark (issue #3): the real nudged with many pending notifications.

  schedule_bench.py --nudged PATH --nudgectl PATH --loop-lateness PATH
                    [--sessions 250] [--per-session 1000] [--window 20] [--dir /dev/shm]

Builds a log of `sessions` x `per-session` registrations, each with four email reminders
pending (4h, 3h, 2h and 1h before its session; confirmations already recorded as sent), so the
default (25,000 x 10) is 1,000,000 pending notifications. Sessions start `per-session`
milliseconds apart, so their 4h reminders fall due at 1,000 a second, in small bursts. Then it
measures, in the same run:

  memory: the daemon's resident set with that plan, minus an empty daemon's, per pending
          notification (target <= 256 bytes);
  lateness: how late each notification fired (the daemon logs it at debug level when it
          dispatches), over `window` seconds (target p99 <= 10 ms), against the idle loop's own
          wake-up lateness at the same rate (loop_lateness).

The log lives on tmpfs by default so that the disk's fsync does not dominate: this measures the
daemon, not the disk. Runs for a few minutes; ctest runs it small as a smoke test.
"""
import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

CONFIG = """
[daemon]
state_dir = "{dir}/state"
listen = "127.0.0.1:18788"
admin_socket = "{dir}/admin.sock"
log_level = "debug"
[channels.email]
kind = "file"
dir = "{dir}/outbox"
[policy]
email_reminders = ["1h", "2h", "3h", "4h"]
sms_reminders = []
quiet_hours = ""
late_grace = "30m"
roster_before = "1d"
"""


def utc(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def compact(t):
    return t.strftime("%Y%m%dT%H%M%SZ")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def percentile(values, p):
    values = sorted(values)
    return values[int(p * (len(values) - 1))] if values else 0.0


def start_daemon(nudged, config, log):
    proc = subprocess.Popen([nudged, "--config", config], stdout=log, stderr=log)
    return proc


def wait_ready(proc, logpath, timeout=600):
    """Until the daemon has replayed and planned: its first log line at warn level does not
    say, so wait for its resident set to stop growing."""
    deadline = time.time() + timeout
    last, stable = -1, 0
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("nudged exited early:\n" + open(logpath).read())
        now = rss_kib(proc.pid)
        stable = stable + 1 if now == last else 0
        if stable >= 10:
            return now
        last = now
        time.sleep(0.1)
    sys.exit("nudged did not settle")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nudged", required=True)
    ap.add_argument("--nudgectl", required=True)
    ap.add_argument("--loop-lateness", required=True)
    ap.add_argument("--sessions", type=int, default=25000)
    ap.add_argument("--per-session", type=int, default=10)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--lead", type=int, default=0,
                    help="seconds from now to the first due time (default: by size)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="nudged-sched-", dir=a.dir) as d:
        config = os.path.join(d, "nudged.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(dir=d))
        logpath = os.path.join(d, "daemon.log")
        log = open(logpath, "a")

        # 1. An empty daemon's resident set.
        empty = start_daemon(a.nudged, config, log)
        empty_kib = wait_ready(empty, logpath)
        empty.send_signal(signal.SIGTERM)
        empty.wait(timeout=30)

        # 2. The log: sessions one second apart, their 1h reminders falling due from `t0`.
        # Time to import and start before the first reminder falls due.
        lead = a.lead or 30 + (a.sessions * a.per_session) // 2500
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        t0 = now + dt.timedelta(seconds=lead)
        registered = now - dt.timedelta(minutes=10)  # confirmations done, every reminder ahead
        lines = []
        for s in range(a.sessions):
            start = t0 + dt.timedelta(hours=4, milliseconds=s * a.per_session)
            lines.append(json.dumps({"type": "session.scheduled", "recorded_at": utc(registered),
                                     "data": {"session_id": f"s{s}", "group": "general",
                                              "title": "Peer support", "starts_at": utc(start),
                                              "time_zone": "UTC", "duration_minutes": 60,
                                              "join_url": "https://zoom.example.org/j/1",
                                              "facilitators": []}}))
            for r in range(a.per_session):
                rid = f"r{s}-{r}"
                lines.append(json.dumps({"type": "registration.received",
                                         "recorded_at": utc(registered), "data": {
                                             "registration_id": rid, "session_id": f"s{s}",
                                             "participant": {"name": "P",
                                                             "email": f"p{s}x{r}@example.org"},
                                             "channels": ["email"], "sms_consent": False}}))
                nid = f"registration.confirmation:{rid}:email:{compact(registered)}:r0"
                lines.append(json.dumps({"type": "notification.sent", "data": {
                    "notification_id": nid, "channel": "email", "attempt": 1}}))
        imp = subprocess.run([a.nudgectl, "--config", config, "events", "import", "-"],
                             input="\n".join(lines) + "\n", capture_output=True, text=True)
        if imp.returncode != 0:
            sys.exit("import failed: " + imp.stderr[-2000:])
        pending = a.sessions * a.per_session * 4

        # 3. The daemon with that plan.
        proc = start_daemon(a.nudged, config, log)
        full_kib = wait_ready(proc, logpath)
        per_notification = (full_kib - empty_kib) * 1024 / pending
        if time.time() > t0.timestamp():
            print(f"warning: ready {time.time() - t0.timestamp():.1f} s after the first due "
                  "time: raise the lead", file=sys.stderr)
        span = a.sessions * a.per_session / 1000.0  # seconds over which 4h reminders fall due
        window_end = t0 + dt.timedelta(seconds=min(a.window, span))
        time.sleep(max(0.0, window_end.timestamp() - time.time()) + 2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

        # 4. How late each notification fired, as the daemon logged it.
        late = []
        with open(logpath) as f:
            for line in f:
                m = re.search(r"firing (session\.reminder:\S+) ([0-9.-]+) ms after due", line)
                if m:
                    late.append(float(m.group(2)))
        base = subprocess.run([a.loop_lateness, "--seconds", str(min(a.window, 10)),
                               "--per-second", "1000"],
                              capture_output=True, text=True).stdout.strip()

    expected = int(1000 * min(a.window, a.sessions * a.per_session / 1000.0))
    p50, p99 = percentile(late, 0.5), percentile(late, 0.99)
    print(f"schedule: {pending} pending notifications, {len(late)} of {expected} due in the "
          f"window sent")
    print(f"  memory: {per_notification:.0f} bytes per pending notification above an empty "
          f"daemon ({empty_kib} KiB empty, {full_kib} KiB loaded); target <= 256")
    print(f"  firing lateness at 1000/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms; target p99 "
          f"<= 10 ms")
    print(f"  baseline {base}")
    m = re.search(r"p99 ([0-9.]+) ms", base)
    if m:
        print(f"  p99 ratio to the idle loop: {p99 / max(float(m.group(1)), 0.001):.1f}x")
    if a.check and (per_notification > 256 or p99 > 10 or len(late) < expected):
        print("schedule: TARGET MISSED")
        return 1
    return 0 if len(late) >= expected * 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
