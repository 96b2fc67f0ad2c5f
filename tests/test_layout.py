"""The layout of the suite: test modules share helpers through tests/support/ and the conftest
fixtures, never by importing one another (a test module imported by another runs its autouse
fixtures and tests in the wrong place, and moving a test breaks unrelated files)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def is_test_module(name: str) -> bool:
    """Whether a dotted module name is a test module (`test_*`, at any depth)."""
    return name.rsplit(".", 1)[-1].startswith("test_")


def imported_test_modules(source: str, module: str) -> list[str]:
    """The test modules that the source of `module` (a dotted name, e.g. `tests.test_api`)
    imports, in absolute or relative form, at any depth of the code."""
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            if is_test_module(base):
                found.append(base)
            else:
                found += [f"{base}.{a.name}" for a in node.names if is_test_module(a.name)]
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_suite_has_test_modules_to_check():
    # Guards the guard: a wrong folder would make the check below pass on nothing.
    names = [p.name for p in python_files()]
    assert "test_layout.py" in names and "conftest.py" in names
    assert len([n for n in names if n.startswith("test_")]) > 20


def test_no_test_module_imports_another_test_module():
    offenders = {
        module_name(path): imported
        for path in python_files()
        if (imported := imported_test_modules(path.read_text(), module_name(path)))
    }
    assert offenders == {}, "share through tests/support/ (module: the test modules it imports)"


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_cache import publish_resolution",
        "import tests.test_cache",
        "import tests.test_cache as cache",
        "from tests import test_cache",
        "from . import test_cache",
        "from .test_cache import publish_resolution",
        "from tests.browser.test_publish_flow import site",
        "def helper():\n    from tests.test_cache import publish_resolution\n",
    ],
)
def test_the_check_finds_every_form_of_import(source):
    assert imported_test_modules(source, "tests.test_fastpath") != []


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support.auth import sign_in",
        "from tests.support import NOW",
        "from tests.conftest import NOW",
        "from . import conftest",
        "import pytest",
        "from statuspage.web import public",
    ],
)
def test_the_check_lets_support_imports_through(source):
    assert imported_test_modules(source, "tests.test_fastpath") == []
