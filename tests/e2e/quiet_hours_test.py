#!/usr/bin/python3
"""End-to-end test of SMS quiet hours at the moment a text goes out (SPEC §4: SMS only, in the
recipient's time zone), with the real nudged binary and the loopback stand-in for Twilio.

Run by ctest as:
  quiet_hours_test.py --nudged PATH --nudgectl PATH

The plan keeps texts out of quiet hours; this is about texts the plan put outside them that then
wait their turn into them (here behind a hung provider). There is no fake clock: quiet hours are
configured to begin at the next whole minute, in UTC, and to last one minute. Helpers (the
Daemon fixture, the Twilio stand-in, events) come from channels_test.py beside this file.
"""
import argparse
import datetime as dt
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import channels_test as base  # noqa: E402
from channels_test import Daemon, FakeTwilio, free_port, registration, session  # noqa: E402

LEAD = 20  # seconds at least from the test's start to quiet hours: the set-up fits in them
HELD, LATE = "+14155550142", "+14155550143"


def utc_now():
    return dt.datetime.now(dt.timezone.utc)


class QuietHoursTest(unittest.TestCase):
    def setUp(self):
        self.twilio = FakeTwilio()
        self.addCleanup(self.twilio.close)

    def test_an_sms_held_up_into_quiet_hours_waits_for_their_end_or_is_not_sent(self):
        # Sixteen texts hang at the provider (the Twilio channel's sixteen slots); two
        # confirmations, due before quiet hours, wait behind them. The hung sends time out a
        # few seconds into quiet hours, and the two would go then, at night. One is for a
        # meeting three hours away: it waits for the end of quiet hours and goes then, once.
        # The other is for a meeting 10 minutes after quiet hours end: too close to wait for
        # (SPEC: at least 15 minutes before the start) and too late for the minute before they
        # began, so it is not sent, and its expiry says why.
        t = self.twilio
        hung = [f"+1415555{n:04d}" for n in range(160, 176)]
        t.behaviour = {number: [("hang",), ("201",)] for number in hung}
        now = utc_now()
        begin = (now + dt.timedelta(seconds=LEAD + 59)).replace(second=0, microsecond=0)
        end = begin + dt.timedelta(minutes=1)
        timeout = int((begin - now).total_seconds()) + 5  # the hung sends fail after `begin`
        night = f'\n[groups.night]\nquiet_hours = "{begin:%H:%M}-{end:%H:%M}"\n'
        d = Daemon(self, free_port(), t.port, sms_timeout=f"{timeout}s", extra=night)
        self.addCleanup(d.close)
        later, soon = session("later", now + dt.timedelta(hours=3), zone="UTC"), \
            session("soon", end + dt.timedelta(minutes=10), zone="UTC")
        later["data"]["group"] = soon["data"]["group"] = "night"
        d.import_events(session("busy", now + dt.timedelta(hours=3), zone="UTC"), later, soon,
                        *[registration(f"h{i}", "busy", phone=n) for i, n in enumerate(hung)])
        d.start()
        d.wait_for(lambda: len(t.requests) == 16, 30, "the sixteen hung sends")
        d.import_events(registration("held", "later", phone=HELD),
                        registration("late", "soon", phone=LATE))
        d.wait_for(lambda: "firing registration.confirmation:held:sms" in d.read_log()
                   and "firing registration.confirmation:late:sms" in d.read_log(), 20,
                   "the two confirmations due")
        self.assertLess(utc_now(), begin - dt.timedelta(seconds=1),
                        "too slow: the confirmations came due after quiet hours began")

        # Quiet hours begin; the hung sends time out and the two take their slots.
        d.wait_for(lambda: len([e for e in d.events("notification.failed")]) == 16,
                   timeout + 30, "the hung sends' failures")
        expired = d.wait_for(lambda: d.outcomes_for("registration.confirmation:late"), 20,
                             "the late one's outcome")
        self.assertEqual([e["type"] for e in expired], ["notification.expired"], expired)
        reason = expired[0]["data"]["reason"]
        self.assertIn("quiet hours", reason)
        self.assertIn(begin.strftime("%Y-%m-%dT%H:%M:00.000Z"), reason)
        self.assertIn(end.strftime("%Y-%m-%dT%H:%M:00.000Z"), reason)
        d.wait_for(lambda: "registration.confirmation:held:sms" in d.read_log()
                   and "held until " + end.strftime("%Y-%m-%dT%H:%M:00.000Z") in d.read_log(),
                   20, "the held one")
        while utc_now() < end - dt.timedelta(seconds=1):
            self.assertEqual(t.to(HELD), [], "sent during quiet hours")
            time.sleep(0.2)
        self.assertEqual(t.to(LATE), [], "sent during quiet hours")

        # Quiet hours end: the held one goes, once, as its first attempt.
        sent = d.wait_for(lambda: [e for e in d.outcomes_for("registration.confirmation:held")
                                   if e["type"] == "notification.sent"], 30, "the held one sent")
        self.assertGreaterEqual(base.parse_time(sent[0]["recorded_at"]), end)
        self.assertEqual(sent[0]["data"]["attempt"], 1)
        self.assertEqual(len(d.outcomes_for("registration.confirmation:held")), 1)
        self.assertEqual(len(t.to(HELD)), 1)
        self.assertEqual(t.to(LATE), [])
        self.assertEqual(d.stop(), 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nudged", required=True)
    parser.add_argument("--nudgectl", required=True)
    args, rest = parser.parse_known_args()
    base.NUDGED, base.NUDGECTL = os.path.abspath(args.nudged), os.path.abspath(args.nudgectl)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
