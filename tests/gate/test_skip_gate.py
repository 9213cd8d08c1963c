#!/usr/bin/env python3
"""The test of the skip gate (docs/testing.md, "Skips"), registered with CTest.

  test_skip_gate.py PROBE CTEST REPORT

PROBE is the skip_gate_probe binary (tests/gate/skip_gate_probe.cpp), CTEST the
ctest executable, REPORT scripts/ci-skip-report.py. Checks both layers:
  1. tests/support/skip.h: under CI=true a missing oracle fails the test, elsewhere
     it skips; a hardware skip stays a skip; the macro stops the test.
  2. scripts/ci-skip-report.py: on real ctest JUnit output of the probe, and on
     fabricated JUnit, any skip that is not tagged as missing hardware fails the
     run under CI=true, and only then.
Python 3 standard library only.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

PROBE = CTEST = REPORT = None


def env_with(ci):
    env = dict(os.environ)
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return env


def run(cmd, ci, cwd=None):
    p = subprocess.run(cmd, env=env_with(ci), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    return p.returncode, p.stdout


def probe(test, ci):
    return run([PROBE, "--gtest_filter=Probe." + test], ci)


def report_kinds():
    """HARDWARE_KINDS as the report script defines them."""
    with open(REPORT, encoding="utf-8") as f:
        m = re.search(r"^HARDWARE_KINDS = \(([^)]*)\)", f.read(), re.M)
    return re.findall(r'"([^"]+)"', m.group(1))


class OracleMacro(unittest.TestCase):
    def test_missing_oracle_fails_under_ci(self):
        for ci in ("true", "TRUE", "1"):
            rc, out = probe("MissingOracle", ci)
            self.assertNotEqual(rc, 0, out)
            self.assertIn("[oracle missing under CI=true] probe: the oracle is hidden on purpose",
                          out)
            self.assertIn("[  FAILED  ] Probe.MissingOracle", out)
            self.assertNotIn("went on past", out)

    def test_missing_oracle_skips_elsewhere(self):
        for ci in (None, "", "false", "0"):
            rc, out = probe("MissingOracle", ci)
            self.assertEqual(rc, 0, out)
            self.assertIn("[skip: oracle missing] probe: the oracle is hidden on purpose", out)
            self.assertIn("[  SKIPPED ] Probe.MissingOracle", out)
            self.assertNotIn("went on past", out)

    def test_present_oracle_runs_the_test(self):
        for ci in (None, "true"):
            rc, out = probe("PresentOracle", ci)
            self.assertEqual(rc, 0, out)
            self.assertIn("[       OK ] Probe.PresentOracle", out)
            self.assertNotIn("never printed", out)

    def test_macro_is_one_statement_and_stops_the_test(self):
        rc, out = probe("MissingOracleInALoop", None)
        self.assertEqual(rc, 0, out)
        self.assertIn("oracle 1 is hidden on purpose", out)
        self.assertNotIn("went on past", out)
        rc, out = probe("MissingOracleInALoop", "true")
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("went on past", out)

    def test_hardware_skip_is_a_skip_under_ci(self):
        rc, out = probe("NoHardware", "true")
        self.assertEqual(rc, 0, out)
        self.assertIn("[skip: hardware gpu] probe: no device here, on purpose", out)
        self.assertIn("[  SKIPPED ] Probe.NoHardware", out)
        self.assertNotIn("went on past", out)

    def test_tags_and_ci_detection_agree_with_the_report(self):
        rc, out = probe("PrintTags", "true")
        self.assertEqual(rc, 0, out)
        tags = re.findall(r"^TAG \[skip: hardware ([^\]]+)\] \|$", out, re.M)
        self.assertEqual(sorted(tags), sorted(report_kinds()))
        self.assertIn("IN_CI 1", out)
        self.assertIn("IN_CI 0", probe("PrintTags", "yes")[1])


CTEST_FILE = """
add_test(probe_oracle "{probe}" "--gtest_filter=Probe.MissingOracle")
add_test(probe_plain "{probe}" "--gtest_filter=Probe.PlainSkip")
add_test(probe_hardware "{probe}" "--gtest_filter=Probe.NoHardware")
add_test(probe_passes "{probe}" "--gtest_filter=Probe.PresentOracle")
set_tests_properties(probe_oracle probe_plain probe_hardware probe_passes
                     PROPERTIES SKIP_REGULAR_EXPRESSION "\\\\[  SKIPPED \\\\]")
"""


class ReportOnCtest(unittest.TestCase):
    """The report on what ctest really writes for the probe's tests."""

    def ctest(self, ci, regex):
        d = tempfile.mkdtemp(prefix="skip-gate-")
        with open(os.path.join(d, "CTestTestfile.cmake"), "w") as f:
            f.write(CTEST_FILE.format(probe=PROBE))
        junit = os.path.join(d, "junit.xml")
        rc, out = run([CTEST, "--output-junit", junit, "-R", regex], ci, cwd=d)
        return rc, out, junit

    def report(self, junit, ci):
        return run([sys.executable, REPORT, junit], ci)

    def test_unearned_skips_fail_ci(self):
        rc, out, junit = self.ctest(None, "probe_")
        self.assertEqual(rc, 0, out)  # skips are not failures to ctest
        self.assertIn("Skipped", out)
        rc, out = self.report(junit, "true")
        self.assertEqual(rc, 1, out)
        self.assertIn("probe: a plain GTEST_SKIP", out)
        self.assertIn("probe: the oracle is hidden on purpose", out)
        self.assertIn("- probe_plain", out)
        self.assertIn("- probe_oracle", out)
        self.assertRegex(out, r"\[hardware, allowed\] 1: \[skip: hardware gpu\] probe: no device")
        self.assertIn("FAILED: 2 skip(s)", out)
        rc, out = self.report(junit, None)  # elsewhere: a report, not a failure
        self.assertEqual(rc, 0, out)
        self.assertIn("would fail CI", out)

    def test_hardware_skips_pass_ci(self):
        rc, out, junit = self.ctest(None, "probe_(hardware|passes)")
        self.assertEqual(rc, 0, out)
        rc, out = self.report(junit, "true")
        self.assertEqual(rc, 0, out)
        self.assertIn("1 test(s) did not run", out)

    def test_missing_oracle_under_ci_fails_ctest_itself(self):
        rc, out, junit = self.ctest("true", "probe_oracle")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("probe_oracle", out)


def junit(*cases):
    body = "".join(cases)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="x" tests="%d">%s'
            "</testsuite>" % (len(cases), body))


def skipped(name, output, message="SKIP_REGULAR_EXPRESSION_MATCHED"):
    return ('<testcase name="%s" status="notrun"><skipped message="%s"/>'
            "<system-out>%s</system-out></testcase>" % (name, message, output))


def passed(name):
    return '<testcase name="%s" status="run"><system-out>ok</system-out></testcase>' % name


def gtest_out(msg):
    return "[ RUN      ] T.x\n/src/t.cpp:3: Skipped\n%s\n[  SKIPPED ] T.x (0 ms)\n" % msg


class ReportOnFabricatedJunit(unittest.TestCase):
    def report(self, text, ci):
        with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
            f.write(text)
        return run([sys.executable, REPORT, f.name], ci)

    def test_every_accepted_kind_passes(self):
        cases = [skipped("hw_" + k, gtest_out("[skip: hardware %s] none here" % k))
                 for k in report_kinds()]
        rc, out = self.report(junit(passed("a"), *cases), "true")
        self.assertEqual(rc, 0, out)
        self.assertIn("%d test(s) did not run" % len(cases), out)

    def test_unearned_reasons_fail_under_ci_only(self):
        bad = [
            gtest_out("/usr/bin/python3 cannot import numpy"),  # a plain GTEST_SKIP
            gtest_out("[skip: oracle missing] onnxruntime-node is absent"),
            gtest_out("[skip: hardware numpy] not a hardware kind"),
            gtest_out("missing [skip: hardware gpu] tag not at the start"),
            gtest_out("[skip: hardware GPU] kinds are lower case"),
            gtest_out(""),  # GTEST_SKIP without a message
        ]
        for out_text in bad:
            text = junit(passed("a"), skipped("hw", gtest_out("[skip: hardware gpu] no device")),
                         skipped("bad", out_text))
            rc, out = self.report(text, "true")
            self.assertEqual(rc, 1, out_text + "\n" + out)
            self.assertIn("FAILED: 1 skip(s)", out)
            rc, out = self.report(text, None)
            self.assertEqual(rc, 0, out)

    def test_skip_return_code_is_unearned(self):
        text = junit(skipped("script", "why not\n", "SKIP_RETURN_CODE=77"))
        rc, out = self.report(text, "true")
        self.assertEqual(rc, 1, out)
        self.assertIn("why not", out)

    def test_groups_by_reason(self):
        text = junit(*[skipped("gpu%d" % i, gtest_out("[skip: hardware gpu] no device"))
                       for i in range(3)],
                     skipped("np", gtest_out("no numpy")))
        rc, out = self.report(text, None)
        self.assertEqual(rc, 0, out)
        self.assertIn("[hardware, allowed] 3: [skip: hardware gpu] no device", out)
        self.assertIn("[NOT hardware, would fail CI] 1: no numpy", out)

    def test_fixture_failures_are_listed_not_judged(self):
        text = junit(skipped("needs", "Failed test dependencies: fixture_x",
                             "Fixture dependency failed"))
        rc, out = self.report(text, "true")
        self.assertEqual(rc, 0, out)  # ctest itself fails the run for these
        self.assertIn("[fixture failed] 1: not run: Failed test dependencies: fixture_x", out)

    def test_nothing_skipped_and_bad_input(self):
        rc, out = self.report(junit(passed("a")), "true")
        self.assertEqual((rc, out.strip()), (0, "ci-skip-report: no test skipped"))
        rc, out = self.report("<testsuite", "true")
        self.assertEqual(rc, 2, out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: test_skip_gate.py PROBE CTEST REPORT")
    PROBE, CTEST, REPORT = (os.path.abspath(a) for a in sys.argv[1:4])
    unittest.main(argv=sys.argv[:1], verbosity=2)
