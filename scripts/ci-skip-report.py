#!/usr/bin/env python3
"""Lists the tests that ctest skipped, grouped by reason, and gates CI on them.

  ci-skip-report.py JUNIT.xml

JUNIT.xml is what `ctest --output-junit` wrote. A skipped test's reason is the
message GoogleTest printed after "Skipped" (or, for other tests, ctest's own
reason). Under CI (the environment variable CI is "true", any case, or "1"),
the only earned skip is one for missing hardware or a missing kernel feature:
its message starts with one of the tags of tests/support/test_support.h,

  [skip: hardware gpu|sgx|amx-bf16|memfd_secret|landlock]

Any other skip (a missing Python module, onnxruntime-node, LibTorch, the data
set, the CLI binary, test data, or a plain GTEST_SKIP) makes this script exit 1
under CI; elsewhere it only reports. Tests that did not run because a fixture
they require failed are listed too (ctest already counts them as failures).
Exit status: 0 fine, 1 an unearned skip under CI, 2 unreadable input.
Python 3 standard library only.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

HARDWARE_KINDS = ("gpu", "sgx", "amx-bf16", "memfd_secret", "landlock")
HARDWARE_TAG = re.compile(r"^\[skip: hardware (%s)\] " % "|".join(map(re.escape, HARDWARE_KINDS)))
FIXTURE_FAILED = "Fixture dependency failed"


def in_ci(env=os.environ):
    return env.get("CI", "").lower() in ("true", "1")


def gtest_skip_message(output):
    """The message of GoogleTest's skip in a test's output, or None.

    GoogleTest prints "FILE:LINE: Skipped", the message lines, then
    "[  SKIPPED ] NAME (N ms)"."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.endswith(": Skipped") or line == "Skipped":
            msg = []
            for rest in lines[i + 1:]:
                if rest.startswith("[  SKIPPED ]"):
                    break
                msg.append(rest)
            text = "\n".join(msg).strip()
            return text or "(GTEST_SKIP without a message)"
    return None


def skipped_tests(junit_text):
    """(name, reason, kind) per test that did not run; kind is 'hardware',
    'fixture' (a required fixture failed) or 'unearned'."""
    root = ET.fromstring(junit_text)
    out = []
    for case in root.iter("testcase"):
        skipped = case.find("skipped")
        if skipped is None and case.get("status") != "notrun":
            continue
        name = case.get("name", "?")
        ctest_reason = skipped.get("message", "") if skipped is not None else ""
        output = case.findtext("system-out") or ""
        if ctest_reason == FIXTURE_FAILED:
            out.append((name, "not run: " + output.strip().splitlines()[-1]
                        if output.strip() else "not run: a required fixture failed", "fixture"))
            continue
        reason = gtest_skip_message(output)
        if reason is None:
            last = output.strip().splitlines()[-1] if output.strip() else ""
            reason = "(%s) %s" % (ctest_reason or "skipped", last) if last else \
                "(%s, no message)" % (ctest_reason or "skipped")
        m = HARDWARE_TAG.match(reason)
        out.append((name, reason, "hardware" if m else "unearned"))
    return out


def report(skips, ci, stream=sys.stdout):
    """Prints the groups; returns the exit status."""
    if not skips:
        print("ci-skip-report: no test skipped", file=stream)
        return 0
    groups = {}
    for name, reason, kind in skips:
        groups.setdefault((kind, reason), []).append(name)
    order = {"unearned": 0, "fixture": 1, "hardware": 2}
    print("ci-skip-report: %d test(s) did not run, by reason:" % len(skips), file=stream)
    for (kind, reason), names in sorted(groups.items(), key=lambda g: (order[g[0][0]], g[0][1])):
        label = {"hardware": "hardware, allowed",
                 "fixture": "fixture failed",
                 "unearned": "NOT hardware" + (", fails CI" if ci else ", would fail CI")}[kind]
        first, *more = reason.splitlines() or [""]
        print("  [%s] %d: %s" % (label, len(names), first), file=stream)
        for line in more:
            print("      " + line, file=stream)
        for n in sorted(names):
            print("      - " + n, file=stream)
    unearned = sum(1 for _, _, kind in skips if kind == "unearned")
    if unearned and ci:
        print("ci-skip-report: FAILED: %d skip(s) under CI=true for a reason other than missing "
              "hardware or a missing kernel feature (%s)" % (unearned, ", ".join(HARDWARE_KINDS)),
              file=stream)
        return 1
    return 0


def main(argv):
    if len(argv) != 1:
        print("usage: ci-skip-report.py JUNIT.xml", file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as f:
            skips = skipped_tests(f.read())
    except (OSError, ET.ParseError) as e:
        print("ci-skip-report: cannot read %s: %s" % (argv[0], e), file=sys.stderr)
        return 2
    return report(skips, in_ci())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
