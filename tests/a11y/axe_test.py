#!/usr/bin/env python3
"""WCAG 2.2 AA automated checks of every HTML email nudged sends: axe-core's rules, run in
Debian's Chromium (headless) on the pages the built-in templates render.

email_samples renders every kind (and each session.changed variant, each also read discreetly)
from realistic views; each page gets axe-core and a few lines that run it appended to its body,
Chromium loads it from a file and prints the DOM once scripts are done, and the verdict is read
from there. Any violation fails, naming the rule, the element and the page. A deliberately
broken page must fail the same check, so the check cannot pass by not running.

Usage: axe_test.py --samples PATH --templates DIR --axe PATH [--overrides DIR] [--chromium PATH]
  --axe: axe.min.js from npm's axe-core (scripts/deps --test installs it in tests/a11y).
  --overrides: a [templates] dir of your own, checked on top of the built-in set.
"""
import argparse
import concurrent.futures
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SAMPLES = TEMPLATES = OVERRIDES = AXE = CHROMIUM = None

# WCAG 2.0, 2.1 and 2.2 at levels A and AA, plus axe's best practices (landmarks, one h1).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

RUNNER = """<script src="axe.min.js"></script>
<script>
axe.run(document, {runOnly: {type: "tag", values: %s}}).then(function (r) {
  var out = document.createElement("pre");
  out.id = "axe-result";
  out.textContent = JSON.stringify({
    passes: r.passes.length,
    violations: r.violations.map(function (v) {
      return {id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(function (n) { return n.html; })};
    })
  });
  document.body.appendChild(out);
}, function (e) {
  var out = document.createElement("pre");
  out.id = "axe-result";
  out.textContent = JSON.stringify({error: String(e)});
  document.body.appendChild(out);
});
</script>
""" % json.dumps(TAGS)

RESULT = re.compile(r'<pre id="axe-result">(.*?)</pre>', re.S)


def check_page(page_html, workdir, name):
    """Runs axe-core on one page in headless Chromium; returns its result as a dict."""
    marker = page_html.rfind("</body>")
    if marker < 0:
        marker = len(page_html)
    path = os.path.join(workdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page_html[:marker] + RUNNER + page_html[marker:])
    profile = tempfile.mkdtemp(dir=workdir)
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--user-data-dir=" + profile, "--allow-file-access-from-files",
         "--virtual-time-budget=20000", "--dump-dom", "file://" + path],
        capture_output=True, text=True, timeout=120)
    m = RESULT.search(proc.stdout)
    if not m:
        raise AssertionError("%s: no axe-core result (chromium exit %d)\n%s" %
                             (name, proc.returncode, proc.stderr[-2000:]))
    return json.loads(html.unescape(m.group(1)))


class Emails(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nudged-a11y-")
        shutil.copy(AXE, os.path.join(self.dir, "axe.min.js"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_a_broken_page_fails_the_check(self):
        broken = ('<!DOCTYPE html><html><head></head><body><img src="x.png">'
                  '<p style="color:#bbb;background:#fff">Faint words</p>'
                  '<a href="https://example.org/"></a></body></html>')
        result = check_page(broken, self.dir, "broken.html")
        found = {v["id"] for v in result["violations"]}
        for rule in ("html-has-lang", "document-title", "image-alt", "color-contrast",
                     "link-name"):
            self.assertIn(rule, found)

    def test_every_email_passes_wcag_2_2_aa(self):
        out = os.path.join(self.dir, "samples")
        subprocess.run([SAMPLES, TEMPLATES, out] + ([OVERRIDES] if OVERRIDES else []),
                       check=True, capture_output=True)
        pages = sorted(os.listdir(out))
        # Every kind and variant, plain and discreet (see email_samples.cpp).
        self.assertGreaterEqual(len(pages), 32)

        def one(name):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                return name, check_page(f.read(), self.dir, name)

        failures = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for name, result in pool.map(one, pages):
                self.assertNotIn("error", result, name)
                self.assertGreater(result["passes"], 0, name)
                for v in result["violations"]:
                    failures.append("%s: %s (%s): %s\n    %s" %
                                    (name, v["id"], v["impact"], v["help"],
                                     "\n    ".join(v["nodes"])))
        self.assertEqual(failures, [], "\n" + "\n".join(failures))


def main():
    global SAMPLES, TEMPLATES, OVERRIDES, AXE, CHROMIUM
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", required=True)
    parser.add_argument("--templates", required=True)
    parser.add_argument("--axe", required=True)
    parser.add_argument("--overrides")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args, rest = parser.parse_known_args()
    SAMPLES, TEMPLATES = os.path.abspath(args.samples), os.path.abspath(args.templates)
    OVERRIDES = os.path.abspath(args.overrides) if args.overrides else None
    AXE, CHROMIUM = os.path.abspath(args.axe), args.chromium
    for what, path in (("axe-core (npm ci in tests/a11y, or scripts/deps --test)", AXE),
                       ("Chromium (Debian package chromium)", CHROMIUM)):
        if not os.path.exists(path):
            sys.exit("axe_test: %s is missing: %s" % (what, path))
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
