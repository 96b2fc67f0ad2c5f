"""The distribution is ours: not the unrelated "statuspage" on PyPI, which no doc may tell anyone
to install; the import package and the command keep the name `statuspage`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_distribution_name_is_not_the_one_taken_on_pypi():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "statuspage-server"
    assert project["project"]["scripts"] == {"statuspage": "statuspage.cli:main"}
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["statuspage"]


def test_no_doc_installs_the_unrelated_package():
    # `pip install statuspage` (or --upgrade statuspage) fetches a 2016 project of that name.
    taken = re.compile(r"pip install\s+(?:-U\s+|--upgrade\s+)*statuspage(?![\w.\-\[/])")
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    offenders = [
        f"{doc.name}:{number}: {line.strip()}"
        for doc in docs
        for number, line in enumerate(doc.read_text().splitlines(), 1)
        if taken.search(line)
    ]
    assert offenders == []
