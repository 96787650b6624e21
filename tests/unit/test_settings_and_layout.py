"""Settings are documented, secrets are generated not committed, and the layout rules hold."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import stat
from dataclasses import fields
from pathlib import Path

from server.settings import ROOT, Settings, load_or_create_secrets


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f.metadata["env"] for f in fields(Settings) if f.metadata["env"] not in doc]
    assert not missing, f"docs/configuration.md does not document: {missing}"
    for f in fields(Settings):
        assert f.metadata["help"].strip(), f"{f.name} has no help text"


def test_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDPACE_PORT", "9001")
    monkeypatch.setenv("FIELDPACE_SECURE_COOKIES", "true")
    monkeypatch.setenv("FIELDPACE_DATA_DIR", str(tmp_path))
    s = Settings.from_env()
    assert s.port == 9001 and s.secure_cookies is True and s.data_dir == tmp_path
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'fieldpace.sqlite3'}"
    assert Settings.from_env(port=1234).port == 1234


def test_secrets_are_generated_once_and_private(tmp_path):
    first = load_or_create_secrets(tmp_path)
    assert len(bytes.fromhex(first["session_key"])) == 32 and len(first["csrf_secret"]) > 30
    assert load_or_create_secrets(tmp_path) == first
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600


def test_no_secrets_or_data_in_the_repository():
    ignored = (ROOT / ".gitignore").read_text()
    assert "/data/" in ignored
    assert not (ROOT / "data" / "secrets.json").exists() or "/data/" in ignored


def test_sync_package_imports_no_web_orm_or_templates():
    forbidden = {"litestar", "piccolo", "jinja2", "server"}
    for path in (ROOT / "sync").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_vendored_htmx_matches_its_recorded_checksum():
    vendor = ROOT / "web" / "static" / "vendor"
    note = (vendor / "README.md").read_text()
    recorded = dict((name, digest) for digest, name in re.findall(r"sha256: ([0-9a-f]{64})\s+(\S+)", note))
    assert "htmx.min.js" in recorded
    for name, digest in recorded.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name


def test_manifest_is_installable():
    manifest = json.loads((ROOT / "manifest" / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"].startswith("/")
    assert manifest["scope"] == "/" and manifest["name"] and manifest["short_name"]
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert ("192x192", "any") in sizes and ("512x512", "any") in sizes
    assert any(p == "maskable" for _s, p in sizes)
    for icon in manifest["icons"]:
        path = ROOT / "manifest" / "icons" / Path(icon["src"]).name
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"]


def test_migrations_are_append_only_and_ordered():
    ids = []
    for path in sorted((ROOT / "migrations").glob("fieldpace_*.py")):
        m = re.search(r'^ID = "([^"]+)"', path.read_text(), re.M)
        assert m, path.name
        ids.append(m.group(1))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_no_inline_script_in_templates():
    for path in [*(ROOT / "web" / "templates").rglob("*.html"), *(ROOT / "server").rglob("templates/**/*.html")]:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline script in {path}"
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {path}"
        assert "style=" not in text, f"inline style in {path} (CSP style-src 'self')"
