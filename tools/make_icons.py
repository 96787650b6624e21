#!/usr/bin/env python3
"""Draw the Fieldpace app icon and write the PNG set into manifest/icons/.

Pure standard library (zlib + struct) so it runs anywhere without Pillow.
Output is deterministic: re-running it produces byte-identical files, so a
diff in git means the design actually changed.

Design: deep teal (#0f5e66) background with three bold white bars rising
left to right (the "pace" mark).

Usage: python tools/make_icons.py [output_dir]
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

TEAL = (0x0F, 0x5E, 0x66)
WHITE = (0xFF, 0xFF, 0xFF)

# Bars in glyph units (the glyph is a unit square, y grows downwards):
# (left, top, right, bottom). Widths and gaps sum to exactly 1.0.
BAR_W = 0.22
GAP = (1.0 - 3 * BAR_W) / 2
BARS = [
    (0.0, 0.58, BAR_W, 1.0),
    (BAR_W + GAP, 0.30, 2 * BAR_W + GAP, 1.0),
    (2 * (BAR_W + GAP), 0.0, 1.0, 1.0),
]

# Supersampling grid used only where the background's rounded corner is drawn.
SS = 4


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 per scanline
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _corner_alpha(x: int, y: int, size: int, radius: float) -> float:
    """Coverage (0..1) of pixel (x, y) by a square of side `size` with rounded corners."""
    if radius <= 0:
        return 1.0
    # Distance into the corner region; pixels away from all corners are fully inside.
    cx = radius if x < radius else (size - radius if x + 1 > size - radius else None)
    cy = radius if y < radius else (size - radius if y + 1 > size - radius else None)
    if cx is None or cy is None:
        return 1.0
    inside = 0
    r2 = radius * radius
    for sy in range(SS):
        py = y + (sy + 0.5) / SS
        for sx in range(SS):
            px = x + (sx + 0.5) / SS
            if (px - cx) ** 2 + (py - cy) ** 2 <= r2:
                inside += 1
    return inside / (SS * SS)


def render(size: int, glyph_frac: float, corner_frac: float) -> bytes:
    """Render one icon.

    glyph_frac: side of the bar glyph as a fraction of the icon size.
    corner_frac: background corner radius as a fraction of size (0 = full bleed).
    """
    side = size * glyph_frac
    origin = (size - side) / 2
    # Bars are snapped to whole pixels so small sizes (favicon) stay crisp.
    bars = [
        (
            round(origin + left * side),
            round(origin + t * side),
            round(origin + r * side),
            round(origin + b * side),
        )
        for (left, t, r, b) in BARS
    ]
    radius = size * corner_frac
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            alpha = _corner_alpha(x, y, size, radius)
            if alpha <= 0:
                row += b"\x00\x00\x00\x00"
                continue
            color = TEAL
            for (left, t, r, b) in bars:
                if left <= x < r and t <= y < b:
                    color = WHITE
                    break
            row += bytes((*color, round(alpha * 255)))
        rows.append(bytes(row))
    return _png(size, size, rows)


# name -> (size, glyph fraction, corner radius fraction)
#
# "any" icons: rounded square with transparent corners, glyph at 56%.
# maskable: full bleed; the platform mask may cut everything outside a circle
#   of radius 40% of the size (the 80% safe zone). The glyph's farthest points
#   are its bottom corners, at half-diagonal = 0.52 * 0.707 = 0.37 < 0.40.
# apple-touch-icon: full bleed and opaque, because iOS applies its own mask
#   and renders transparency as black.
ICONS = {
    "icon-192.png": (192, 0.56, 0.20),
    "icon-512.png": (512, 0.56, 0.20),
    "maskable-512.png": (512, 0.52, 0.0),
    "apple-touch-icon.png": (180, 0.56, 0.0),
    "favicon-32.png": (32, 0.66, 0.20),
}


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    out = Path(argv[1]) if len(argv) > 1 else root / "manifest" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for name, (size, glyph, corner) in ICONS.items():
        data = render(size, glyph, corner)
        (out / name).write_bytes(data)
        print(f"wrote {out / name} ({size}x{size}, {len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
