"""Reports how much the schema conformance test sent (operations, cases, seconds)."""

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("tests.api.test_openapi_schemathesis") or sys.modules.get(
        "test_openapi_schemathesis"
    )
    calls = getattr(module, "CALLS", None)
    if not calls:
        return
    report = module.REPORT  # type: ignore[union-attr]
    terminalreporter.write_line(
        f"schemathesis: {len(calls)} operations, {sum(calls.values())} cases "
        f"(max_examples={report['max_examples']}, seed={report['seed']}) "
        f"in {report.get('seconds', '?')} s"
    )
