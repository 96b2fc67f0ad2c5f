"""statuspage.core is the pure core: no web framework, no database, no clock (see its README).

Every module under statuspage/core is found by walking the folder, so a new one is covered
without touching this file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import statuspage.core

CORE_DIR = Path(statuspage.core.__file__).resolve().parent
ROOT = CORE_DIR.parents[1]

#: Packages the core must not import, directly or through anything it imports.
FORBIDDEN = ("flask", "flask_sqlalchemy", "sqlalchemy", "alembic", "itsdangerous", "httpx")

#: Calls that read the clock; only statuspage/clock.py may make them.
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("date", "today")}
CLOCK_MODULE = "statuspage.clock"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


CORE_FILES = sorted(CORE_DIR.rglob("*.py"))
CORE_MODULES = [_module_name(path) for path in CORE_FILES]

_IMPORTED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
names = set(sys.modules)
print(json.dumps(sorted(p for p in sys.argv[2:] if p in names or any(
    n.startswith(p + ".") for n in names))))
"""


def test_the_walk_finds_the_core():
    assert "statuspage.core" in CORE_MODULES
    assert "statuspage.core.serializers" in CORE_MODULES
    assert "statuspage.core.escalation.planner" in CORE_MODULES


@pytest.mark.parametrize("module", CORE_MODULES)
def test_importing_a_core_module_imports_no_framework(module):
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTED, module, *FORBIDDEN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], f"importing {module} imported these"


def _clock_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            # datetime.now(), time.time(), and datetime.datetime.now() alike: the last two names.
            if isinstance(func, ast.Attribute):
                owner = func.value
                owner_name = (
                    owner.id
                    if isinstance(owner, ast.Name)
                    else owner.attr
                    if isinstance(owner, ast.Attribute)
                    else None
                )
                if (owner_name, func.attr) in CLOCK_CALLS:
                    found.append(f"line {node.lineno}: {owner_name}.{func.attr}()")
        elif _imports_clock(node):
            found.append(f"line {node.lineno}: imports {CLOCK_MODULE}")
    return found


def _imports_clock(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.module == CLOCK_MODULE or (
            node.module == "statuspage" and any(a.name == "clock" for a in node.names)
        )
    if isinstance(node, ast.Import):
        return any(a.name == CLOCK_MODULE for a in node.names)
    return False


@pytest.mark.parametrize("path", CORE_FILES, ids=CORE_MODULES)
def test_a_core_module_does_not_read_the_clock(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert _clock_reads(tree) == [], f"{path} reads the clock; take `now` as a parameter"


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime\ndatetime.now()",
        "import datetime\ndatetime.datetime.utcnow()",
        "import time\ntime.time()",
        "from datetime import date\ndate.today()",
        "from statuspage.clock import utcnow",
        "from statuspage import clock",
        "import statuspage.clock",
    ],
)
def test_the_clock_check_catches(source):
    assert _clock_reads(ast.parse(source))
