"""The static files (`web/static/`), read once at start-up: content-hashed names, precompressed bodies.

Every file gets a name with a hash of its bytes (`app.css` -> `app.<hash>.css`), which templates reach through
`static_url("app.css")` and the service worker's precache list through `hashed_urls()`. A hashed URL never
changes meaning, so it is served `immutable` for a year and a repeat visit downloads none of them; the plain
name (and a hash of an older version) still answers, with `no-cache` and an ETag. Text files are compressed
once here, gzip and brotli at their highest levels, never per request. Pure: no route, no app import.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import brotli

from server.settings import ROOT

STATIC_DIR = ROOT / "web" / "static"
URL_PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASH_LENGTH = 12
_HASHED = re.compile(rf"^(?P<base>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[A-Za-z0-9]+)$")
_TEXT_TYPES = {"text/css", "text/javascript", "application/javascript", "application/json", "image/svg+xml",
               "text/plain", "text/markdown", "application/manifest+json"}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/markdown", ".svg": "image/svg+xml",
          ".json": "application/json", ".webmanifest": "application/manifest+json"}
# Smaller than this, a compressed body saves less than its headers cost.
MIN_COMPRESS = 256


@dataclass(frozen=True)
class Asset:
    """One static file: its name under web/static, its hashed name, and each encoding's body."""

    name: str
    hashed: str
    digest: str
    content_type: str
    bodies: dict[str, bytes]  # "identity", and "br" / "gzip" when they are smaller

    @property
    def url(self) -> str:
        return URL_PREFIX + self.hashed

    def etag(self, encoding: str) -> str:
        return f'"{self.digest}-{encoding}"'

    def etags(self) -> set[str]:
        return {self.etag(e) for e in self.bodies}


def _content_type(path: Path) -> str:
    kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind in _TEXT_TYPES else kind


def hashed_name(name: str, digest: str) -> str:
    """`vendor/htmx.min.js` with digest d -> `vendor/htmx.min.d.js`."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot and "/" not in ext else f"{name}.{digest}"


def load_asset(path: Path, name: str) -> Asset:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:HASH_LENGTH]
    content_type = _content_type(path)
    bodies = {"identity": raw}
    if content_type.split(";")[0] in _TEXT_TYPES and len(raw) >= MIN_COMPRESS:
        for encoding, body in (("br", brotli.compress(raw, mode=brotli.MODE_TEXT, quality=11)),
                               ("gzip", gzip.compress(raw, compresslevel=9, mtime=0))):
            if len(body) < len(raw):
                bodies[encoding] = body
    return Asset(name=name, hashed=hashed_name(name, digest), digest=digest, content_type=content_type, bodies=bodies)


class Catalog:
    """Every file of a directory, by its plain and its hashed name."""

    def __init__(self, directory: Path) -> None:
        self.by_name: dict[str, Asset] = {}
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                name = path.relative_to(directory).as_posix()
                self.by_name[name] = load_asset(path, name)
        self.by_hashed = {a.hashed: a for a in self.by_name.values()}

    def url(self, name: str) -> str:
        """The hashed URL of `name` (a KeyError for a file that is not there: a template typo fails loudly)."""
        return self.by_name[name].url

    def find(self, path: str) -> tuple[Asset, bool] | None:
        """The asset a path under /static/ names, and whether the path is its current hashed name (immutable).
        A plain name, or the hashed name of an earlier version, gives the current file, to be revalidated."""
        if path in self.by_hashed:
            return self.by_hashed[path], True
        if path in self.by_name:
            return self.by_name[path], False
        match = _HASHED.match(path)
        if match:
            asset = self.by_name.get(match["base"] + match["ext"])
            if asset is not None:
                return asset, False
        return None

    def urls(self) -> dict[str, str]:
        """Plain name -> hashed URL, for the service worker."""
        return {name: asset.url for name, asset in self.by_name.items()}


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The static files of this checkout, read and compressed once per process."""
    return Catalog(STATIC_DIR)


def static_url(name: str) -> str:
    """The template helper: `static_url("app.css")` -> `/static/app.<hash>.css`."""
    return catalog().url(name)


# The stylesheet signed-out pages carry inline (the sign-in page: one round trip fewer on a slow link, and the
# worker precaches the file for the pages after it). The CSP names its hash, so no other inline style runs.
INLINE_STYLE = "app.css"


def inline_style() -> str:
    """The text of the inline stylesheet, exactly as the CSP's hash covers it."""
    return catalog().by_name[INLINE_STYLE].bodies["identity"].decode()


def inline_style_hash() -> str:
    """The CSP source of the inline stylesheet: `'sha256-<base64>'`."""
    digest = hashlib.sha256(inline_style().encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _accepted(header: str) -> dict[str, float]:
    accepted: dict[str, float] = {}
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if token.strip():
            accepted[token.strip().lower()] = q
    return accepted


def choose_encoding(asset: Asset, accept_encoding: str) -> str:
    """The best body of `asset` the client accepts: brotli, then gzip, then the file as it is."""
    accepted = _accepted(accept_encoding)
    wildcard = accepted.get("*", 0.0)
    for encoding in ("br", "gzip"):
        if encoding in asset.bodies and accepted.get(encoding, wildcard) > 0:
            return encoding
    return "identity"
