#!/usr/bin/env python3
"""Builds public/fonts/coopmux-symbols.woff2: the dashboard's fallback font for the symbols
that coding agents print and that common monospace fonts lack (docs/architecture.md,
"Glyphs the viewer's fonts lack").

Every glyph is drawn here from geometry (no outlines are copied from another font), one
terminal cell wide (the advance of DejaVu Sans Mono), spanning the whole cell height so that
box drawing joins across rows:

- the media and corner marks of Miscellaneous Technical that agents use as state markers
  (U+23FA RECORD "⏺", U+23BF "⎿", …), which DejaVu lacks;
- box drawing (U+2500–257F) and block elements (U+2580–259F), parsed from their Unicode names;
- braille patterns (U+2800–28FF), the spinners of several agents.

The font is listed last in the terminal's and the tiles' font stacks: a browser uses it only
for a character no earlier font has, and downloads it (about 6 KB) only when a page shows one
(`unicode-range` in style/main.css).

Run with fontTools and brotli installed (`pip install fonttools brotli`):
    python3 style/symbols-font.py public/fonts/coopmux-symbols.woff2
"""

import math
import sys
import unicodedata

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

UPM = 2048
ADVANCE = 1233  # DejaVu Sans Mono's cell width
ASCENT = 1901
DESCENT = 483
TOP, BOTTOM = ASCENT, -DESCENT
MID_X = ADVANCE // 2
MID_Y = (TOP + BOTTOM) // 2
# Where symbols sit: around the middle of a lower-case letter.
AXIS_Y = 620
LIGHT = 120
HEAVY = 240
DOUBLE_GAP = 150

FAMILY = "coopmux symbols"


class Glyph:
    """Outlines of one glyph, every contour clockwise (TrueType's filled direction)."""

    def __init__(self):
        self.contours = []

    def rect(self, x0, y0, x1, y1):
        x0, x1 = sorted((round(x0), round(x1)))
        y0, y1 = sorted((round(y0), round(y1)))
        if x1 > x0 and y1 > y0:
            self.contours.append([(x0, y0), (x0, y1), (x1, y1), (x1, y0)])

    def polygon(self, points):
        pts = [(round(x), round(y)) for x, y in points]
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]))
        if area > 0:  # counter-clockwise: reverse into clockwise
            pts.reverse()
        self.contours.append(pts)

    def circle(self, cx, cy, r, steps=24):
        self.polygon(
            [(cx + r * math.cos(2 * math.pi * i / steps), cy + r * math.sin(2 * math.pi * i / steps)) for i in range(steps)]
        )

    def stroke(self, x0, y0, x1, y1, width):
        """A straight stroke of `width` between two points."""
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy)
        nx, ny = -dy / length * width / 2, dx / length * width / 2
        self.polygon([(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)])

    def draw(self):
        pen = TTGlyphPen(None)
        for contour in self.contours:
            pen.moveTo(contour[0])
            for point in contour[1:]:
                pen.lineTo(point)
            pen.closePath()
        return pen.glyph()


# --- Miscellaneous Technical: the marks agents print -------------------------------------------

def technical():
    glyphs = {}
    r = 420

    g = Glyph()  # ⏺ RECORD
    g.circle(MID_X, AXIS_Y, r)
    glyphs[0x23FA] = g

    g = Glyph()  # ⏹ STOP
    g.rect(MID_X - 360, AXIS_Y - 360, MID_X + 360, AXIS_Y + 360)
    glyphs[0x23F9] = g

    g = Glyph()  # ⏸ PAUSE
    g.rect(MID_X - 330, AXIS_Y - 380, MID_X - 110, AXIS_Y + 380)
    g.rect(MID_X + 110, AXIS_Y - 380, MID_X + 330, AXIS_Y + 380)
    glyphs[0x23F8] = g

    for cp, (dx, dy) in {0x23F5: (1, 0), 0x23F4: (-1, 0), 0x23F6: (0, 1), 0x23F7: (0, -1)}.items():
        g = Glyph()  # ⏵ ⏴ ⏶ ⏷ triangles
        tip = (MID_X + dx * 400, AXIS_Y + dy * 400)
        base = [(MID_X - dx * 340 + dy * 380, AXIS_Y - dy * 340 + dx * 380),
                (MID_X - dx * 340 - dy * 380, AXIS_Y - dy * 340 - dx * 380)]
        g.polygon([tip, *base])
        glyphs[cp] = g

    left = 300
    g = Glyph()  # ⎿ the corner that agents put before a tool's result
    g.rect(left, AXIS_Y - LIGHT // 2, left + LIGHT, TOP)
    g.rect(left, AXIS_Y - LIGHT // 2, ADVANCE, AXIS_Y + LIGHT // 2)
    glyphs[0x23BF] = g
    g = Glyph()  # ⎾
    g.rect(left, BOTTOM, left + LIGHT, AXIS_Y + LIGHT // 2)
    g.rect(left, AXIS_Y - LIGHT // 2, ADVANCE, AXIS_Y + LIGHT // 2)
    glyphs[0x23BE] = g
    g = Glyph()  # ⏌
    g.rect(ADVANCE - left - LIGHT, AXIS_Y - LIGHT // 2, ADVANCE - left, TOP)
    g.rect(0, AXIS_Y - LIGHT // 2, ADVANCE - left, AXIS_Y + LIGHT // 2)
    glyphs[0x23CC] = g

    g = Glyph()  # ⎯ horizontal line extension
    g.rect(0, AXIS_Y - LIGHT // 2, ADVANCE, AXIS_Y + LIGHT // 2)
    glyphs[0x23AF] = g
    g = Glyph()  # ⏐ vertical line extension
    g.rect(MID_X - LIGHT // 2, BOTTOM, MID_X + LIGHT // 2, TOP)
    glyphs[0x23D0] = g

    g = Glyph()  # ⏎ return symbol
    g.rect(ADVANCE - 330, AXIS_Y - LIGHT // 2, ADVANCE - 330 + LIGHT, AXIS_Y + 520)
    g.rect(330, AXIS_Y - LIGHT // 2, ADVANCE - 330 + LIGHT, AXIS_Y + LIGHT // 2)
    g.polygon([(150, AXIS_Y), (400, AXIS_Y + 230), (400, AXIS_Y - 230)])
    glyphs[0x23CE] = g
    return glyphs


# --- Box drawing, from the characters' names ---------------------------------------------------

DIRECTIONS = {
    "UP": ["up"], "DOWN": ["down"], "LEFT": ["left"], "RIGHT": ["right"],
    "VERTICAL": ["up", "down"], "HORIZONTAL": ["left", "right"],
}
WEIGHTS = {"LIGHT": "light", "SINGLE": "light", "HEAVY": "heavy", "DOUBLE": "double"}


def arms(words):
    """Which arms a box-drawing character has, and how heavy: {"up": "light", …}."""
    result, pending, prefix = {}, [], None
    for word in words:
        if word == "AND":
            continue
        if word in WEIGHTS:
            if pending:
                for d in pending:
                    result[d] = WEIGHTS[word]
                pending = []
            else:
                prefix = WEIGHTS[word]
        elif word in DIRECTIONS:
            for d in DIRECTIONS[word]:
                if prefix:
                    result[d] = prefix
                else:
                    pending.append(d)
        else:
            raise ValueError(f"unexpected word {word}")
    for d in pending:
        result[d] = prefix or "light"
    return result


def arm(g, direction, weight, center_reach):
    """One arm from the cell's centre to its edge. `center_reach` extends it past the centre
    so that arms of different weights meet without a notch."""
    widths = {"light": [(0, LIGHT)], "heavy": [(0, HEAVY)],
              "double": [(-DOUBLE_GAP / 2 - LIGHT / 2, LIGHT), (DOUBLE_GAP / 2 + LIGHT / 2, LIGHT)]}[weight]
    for offset, width in widths:
        if direction in ("left", "right"):
            y = MID_Y + offset
            x_end = 0 if direction == "left" else ADVANCE
            x_start = MID_X + (center_reach if direction == "left" else -center_reach)
            g.rect(x_start, y - width / 2, x_end, y + width / 2)
        else:
            x = MID_X + offset
            y_end = TOP if direction == "up" else BOTTOM
            y_start = MID_Y + (-center_reach if direction == "up" else center_reach)
            g.rect(x - width / 2, y_start, x + width / 2, y_end)


def dashed(g, vertical, weight, count):
    width = LIGHT if weight == "light" else HEAVY
    span = (TOP - BOTTOM) if vertical else ADVANCE
    step = span / count
    for i in range(count):
        a, b = i * step + step * 0.15, (i + 1) * step - step * 0.15
        if vertical:
            g.rect(MID_X - width / 2, BOTTOM + a, MID_X + width / 2, BOTTOM + b)
        else:
            g.rect(a, MID_Y - width / 2, b, MID_Y + width / 2)


def arc(g, corner):
    """A rounded corner (light) joining the two arms named by `corner`, e.g. ("down", "right")."""
    vertical, horizontal = corner
    sx = 1 if horizontal == "right" else -1
    sy = 1 if vertical == "up" else -1
    r = min(ADVANCE / 2, (TOP - BOTTOM) / 2) * 0.9
    cx, cy = MID_X + sx * r, MID_Y + sy * r
    outer, inner = r + LIGHT / 2, r - LIGHT / 2
    steps = 12
    quarter = [(-sx * math.cos(math.pi / 2 * i / steps), -sy * math.sin(math.pi / 2 * i / steps)) for i in range(steps + 1)]
    # Mirror so the arc runs from the vertical arm's side to the horizontal's.
    pts = [(cx + ux * outer, cy + uy * outer) for ux, uy in quarter]
    pts += [(cx + ux * inner, cy + uy * inner) for ux, uy in reversed(quarter)]
    g.polygon(pts)
    # Straight runs from the arc to the cell's edges.
    y_edge = TOP if vertical == "up" else BOTTOM
    g.rect(MID_X - LIGHT / 2, cy, MID_X + LIGHT / 2, y_edge)
    x_edge = ADVANCE if horizontal == "right" else 0
    g.rect(cx, MID_Y - LIGHT / 2, x_edge, MID_Y + LIGHT / 2)


def box_drawing():
    glyphs = {}
    for cp in range(0x2500, 0x2580):
        words = unicodedata.name(chr(cp)).removeprefix("BOX DRAWINGS ").split()
        g = Glyph()
        if "DASH" in words:
            weight = WEIGHTS[words[0]]
            count = {"DOUBLE": 2, "TRIPLE": 3, "QUADRUPLE": 4}[words[1]]
            dashed(g, words[-1] == "VERTICAL", weight, count)
        elif "ARC" in words:
            arc(g, (words[2].lower(), words[4].lower()))
        elif "DIAGONAL" in words:
            if "CROSS" in words or words[2:4] == ["UPPER", "RIGHT"]:
                g.stroke(ADVANCE, TOP, 0, BOTTOM, LIGHT)
            if "CROSS" in words or words[2:4] == ["UPPER", "LEFT"]:
                g.stroke(0, TOP, ADVANCE, BOTTOM, LIGHT)
        else:
            found = arms(words)
            heaviest = max((HEAVY if w == "heavy" else DOUBLE_GAP / 2 + LIGHT if w == "double" else LIGHT)
                           for w in found.values())
            reach = heaviest / 2 if len(found) > 1 else 0
            for direction, weight in found.items():
                arm(g, direction, weight, reach)
        glyphs[cp] = g
    return glyphs


# --- Block elements ------------------------------------------------------------------------------

def blocks():
    glyphs = {}
    h = TOP - BOTTOM

    def fill(cp, x0, y0, x1, y1):  # fractions of the cell, from its bottom left
        g = glyphs.setdefault(cp, Glyph())
        g.rect(x0 * ADVANCE, BOTTOM + y0 * h, x1 * ADVANCE, BOTTOM + y1 * h)

    fill(0x2580, 0, 0.5, 1, 1)
    for i in range(1, 9):  # ▁ … █ lower eighths
        fill(0x2580 + i, 0, 0, 1, i / 8)
    for i in range(1, 8):  # ▉ … ▏ left eighths
        fill(0x2588 + i, 0, 0, (8 - i) / 8, 1)
    fill(0x2590, 0.5, 0, 1, 1)
    for cp, density in {0x2591: 0.25, 0x2592: 0.5, 0x2593: 0.75}.items():  # ░ ▒ ▓ as dot grids
        g = glyphs.setdefault(cp, Glyph())
        cols, rows = 4, 8
        size = math.sqrt(density) * ADVANCE / cols
        for c in range(cols):
            for r in range(rows):
                x = (c + 0.5) * ADVANCE / cols
                y = BOTTOM + (r + 0.5) * h / rows
                g.rect(x - size / 2, y - size / 2, x + size / 2, y + size / 2)
    fill(0x2594, 0, 7 / 8, 1, 1)
    fill(0x2595, 7 / 8, 0, 1, 1)
    quads = {"ul": (0, 0.5, 0.5, 1), "ur": (0.5, 0.5, 1, 1), "ll": (0, 0, 0.5, 0.5), "lr": (0.5, 0, 1, 0.5)}
    for cp, parts in {0x2596: ["ll"], 0x2597: ["lr"], 0x2598: ["ul"], 0x2599: ["ul", "ll", "lr"],
                      0x259A: ["ul", "lr"], 0x259B: ["ul", "ur", "ll"], 0x259C: ["ul", "ur", "lr"],
                      0x259D: ["ur"], 0x259E: ["ur", "ll"], 0x259F: ["ur", "ll", "lr"]}.items():
        for part in parts:
            fill(cp, *quads[part])
    return glyphs


# --- Braille -------------------------------------------------------------------------------------

def braille():
    glyphs = {}
    # Dots 1-3 and 7 in the left column top to bottom, 4-6 and 8 in the right.
    positions = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
    xs = [ADVANCE * 0.3, ADVANCE * 0.7]
    ys = [TOP - (TOP - BOTTOM) * (0.18 + 0.21 * r) for r in range(4)]
    for bits in range(256):
        g = Glyph()
        for dot, (c, r) in enumerate(positions):
            if bits & (1 << dot):
                g.circle(xs[c], ys[r], 120, steps=12)
        glyphs[0x2800 + bits] = g
    return glyphs


def build(path):
    glyphs = {**technical(), **box_drawing(), **blocks(), **braille()}
    order = [".notdef", "space"] + [f"uni{cp:04X}" for cp in sorted(glyphs)]
    fb = FontBuilder(UPM, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({0x20: "space", **{cp: f"uni{cp:04X}" for cp in glyphs}})
    outlines = {".notdef": Glyph().draw(), "space": Glyph().draw()}
    outlines.update({f"uni{cp:04X}": g.draw() for cp, g in glyphs.items()})
    fb.setupGlyf(outlines)
    glyf = fb.font["glyf"]
    lsb = {}
    for name in order:
        glyf[name].recalcBounds(glyf)
        lsb[name] = getattr(glyf[name], "xMin", 0)
    fb.setupHorizontalMetrics({name: (ADVANCE, lsb[name]) for name in order})
    fb.setupHorizontalHeader(ascent=ASCENT, descent=-DESCENT)
    fb.setupNameTable({"familyName": FAMILY, "styleName": "Regular",
                       "copyright": "coopmux authors, MIT licence; drawn by style/symbols-font.py"})
    fb.setupOS2(sTypoAscender=ASCENT, sTypoDescender=-DESCENT, sTypoLineGap=0,
                usWinAscent=ASCENT, usWinDescent=DESCENT, fsType=0)
    fb.setupPost(isFixedPitch=1)
    fb.font.flavor = "woff2"
    fb.save(path)


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "public/fonts/coopmux-symbols.woff2")
