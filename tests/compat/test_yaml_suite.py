"""The official clients' YAML suite against a real node: the pass rate may only go up.

The floor is the stack pass rate reached so far (the suite's own `requires: stack` split,
per test, skips counted as not passing). Raise it when the engine gets better; never lower
it. Skips when the suite or the official client's virtualenv is absent (CI has no network).
"""

from __future__ import annotations

import pytest

from tests.compat.harness import locate_suite, run_suite, runner_unavailable, suite_files, tally

#: 2026-12-06, suite commit 9f63754: 26 of 208 stack tests passed (the node at c61eae1);
#: 134-135 of 208 (64.4-64.9%) with the tantivy engine and the APIs of issue 14. The floor
#: keeps a few tests of slack for runs on a loaded machine.
STACK_PASS_RATE_FLOOR = 0.625


def test_stack_pass_rate_holds_the_floor(tmp_path):
    suite = locate_suite()
    if suite is None:
        pytest.skip("elasticsearch-clients-tests not available (set CITADEL_CLIENT_TESTS_DIR)")
    missing = runner_unavailable()
    if missing:
        pytest.skip(missing)
    files = [f for f in suite_files(suite) if f.stack]
    results = run_suite(suite, [f.path for f in files], tmp_path)
    stack = tally(results, files, "stack")
    assert len(results) == len(files)
    worst = "\n".join(f"{n:4d} {g}" for g, n in stack.groups.most_common(10))
    assert stack.rate >= STACK_PASS_RATE_FLOOR, (
        f"{stack.passed} of {stack.total} stack tests pass ({stack.rate:.1%}), "
        f"below the floor {STACK_PASS_RATE_FLOOR:.1%}; most common failures:\n{worst}"
    )
