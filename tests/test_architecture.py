"""The project's shape, as DESIGN.md's "Layout" and "Layers" ask: small modules, each app
saying what it is for and what it may import, and the import-linter contract in place."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("agentstudio", "approvals", "tools", "playbooks")
MODULE_LINES_MAX = 450
# The apps in layer order, highest first, as import-linter's `layers` contract reads them.
LAYERS = ["playbooks", "tools", "approvals", "agentstudio"]


def _app_modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_no_app_module_is_over_450_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in _app_modules()
        if (lines := len(path.read_text().splitlines())) > MODULE_LINES_MAX
    ]
    assert not too_long, (
        f"modules over {MODULE_LINES_MAX} lines (split them into a package along their seams): "
        + "; ".join(too_long)
    )


@pytest.mark.parametrize(
    "apps_module",
    sorted(str(path.relative_to(ROOT)) for app in APPS for path in (ROOT / app).rglob("apps.py")),
)
def test_each_app_says_what_it_is_for_and_what_it_may_import(apps_module: str) -> None:
    docstring = ast.get_docstring(ast.parse((ROOT / apps_module).read_text())) or ""
    assert docstring, f"{apps_module} has no module docstring saying what the app is for"
    assert "import" in docstring.lower(), (
        f"{apps_module}'s docstring does not say what the app may import: {docstring!r}"
    )


def test_make_lint_checks_the_layers_with_import_linter() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = [c for c in config["contracts"] if c["type"] == "layers"]
    assert [c["layers"] for c in layers] == [LAYERS]
    ignored = layers[0].get("ignore_imports", [])
    # Only the composition root may import every app.
    assert all(
        rule.split(" -> ")[0].startswith(
            ("agentstudio.urls", "agentstudio.api.urls", "agentstudio.ops")
        )
        for rule in ignored
    ), ignored
    assert "lint-imports" in (ROOT / "Makefile").read_text()
