"""docs/architecture.md's "where things are" table stays true, and the layer contracts know every package.

The table must name every folder of the checkout and of `server/` (a path in its first column that is the
folder or lies inside it), and every path it names must exist. The import-linter contracts in
pyproject.toml must place every package of `server/` in the core or among the domains.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from server.settings import ROOT

DOC = ROOT / "docs" / "architecture.md"
HEADING = "## Where things are"
CONTRACT_CORE = "core-imports-no-domain"
CONTRACT_APP = "domains-not-app"


def _ignored_folder_patterns() -> list[str]:
    """The folder patterns of .gitignore that apply to a top-level or a server/ folder's name."""
    patterns = []
    for line in (ROOT / ".gitignore").read_text().splitlines():
        line = line.strip()
        if line.endswith("/") and not line.startswith("#") and "/" not in line.strip("/"):
            patterns.append(line.strip("/"))
    return patterns


def folders(root: Path = ROOT) -> list[str]:
    """The folders the table must name: the checkout's and server/'s, without hidden, cache and ignored ones."""
    ignored = _ignored_folder_patterns()

    def kept(path: Path) -> bool:
        return (path.is_dir() and not path.name.startswith((".", "_"))
                and not any(fnmatch.fnmatch(path.name, p) for p in ignored))

    top = [p.name for p in sorted(root.iterdir()) if kept(p)]
    server = [f"server/{p.name}" for p in sorted((root / "server").iterdir()) if kept(p)]
    return top + server


def table_paths(text: str) -> list[str]:
    """The backquoted paths in the first column of the "where things are" table."""
    assert HEADING in text, f"docs/architecture.md has no {HEADING!r} section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after the header and rule
    assert rows, "the 'where things are' table has no rows"
    return [path.rstrip("/") for row in rows for path in re.findall(r"`([^`]+)`", row.split("|")[1])]


def unlisted(folder_names: list[str], paths: list[str]) -> list[str]:
    return [f for f in folder_names if not any(p == f or p.startswith(f + "/") for p in paths)]


def test_the_table_names_every_folder():
    missing = unlisted(folders(), table_paths(DOC.read_text()))
    assert not missing, (f"docs/architecture.md's 'where things are' table does not name: {missing}. "
                         "Add a row for each (`path/` | what it holds).")


def test_every_path_in_the_table_exists():
    gone = [p for p in table_paths(DOC.read_text()) if not (ROOT / p).exists()]
    assert not gone, f"docs/architecture.md's 'where things are' table names paths that do not exist: {gone}"


def test_the_check_itself_notices_a_missing_folder(tmp_path):
    (tmp_path / ".gitignore").write_text("/data/\n*.egg-info/\n")
    for name in ("server/accounts", "server/jobs", "server/__pycache__", "web", "data", "x.egg-info", ".git"):
        (tmp_path / name).mkdir(parents=True)
    assert folders(tmp_path) == ["server", "web", "server/accounts", "server/jobs"]
    table = (f"{HEADING}\n\n| path | what |\n| --- | --- |\n| `server/app.py` | assembly |\n"
             "| `server/accounts/`, `web/static/` | users; assets |\n\n## Next\n| `server/jobs/` | not the table |\n")
    assert unlisted(folders(tmp_path), table_paths(table)) == ["server/jobs"]


def test_every_server_package_is_core_or_a_domain_in_the_layer_contracts():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    core = set(contracts[CONTRACT_CORE]["source_modules"])
    domains = set(contracts[CONTRACT_CORE]["forbidden_modules"])
    assert domains == set(contracts[CONTRACT_APP]["source_modules"]), (
        f"the domain lists of the {CONTRACT_CORE!r} and {CONTRACT_APP!r} contracts in pyproject.toml differ")
    packages = {f"server.{p.parent.name}" for p in (ROOT / "server").glob("*/__init__.py")}
    unplaced = sorted(packages - core - domains)
    assert not unplaced, (f"packages of server/ in no layer contract of pyproject.toml: {unplaced}. A domain goes "
                          f"into the domain lists of {CONTRACT_CORE!r} and {CONTRACT_APP!r}; a core module into "
                          f"the source_modules of {CONTRACT_CORE!r}.")
    stale = sorted(m for m in core | domains if not (ROOT / Path(*m.split("."))).exists()
                   and not (ROOT / Path(*m.split("."))).with_suffix(".py").exists())
    assert not stale, f"the layer contracts of pyproject.toml name modules that do not exist: {stale}"
