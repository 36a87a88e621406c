#!/usr/bin/env python3
"""Print "STDDEV COLOURS" for a PNG screenshot, with the Python standard library only (CI has no Pillow).

  png_stats.py SHOT.png LEFT TOP WIDTH HEIGHT

STDDEV: standard deviation of the grey level (0…1) over the whole image. COLOURS: distinct RGB colours inside the
crop box (the map area). Same figures as ImageMagick's %[fx:standard_deviation] (per channel mean) and %k, close
enough for a blank/not-blank test. Handles 8-bit RGB and RGBA, non-interlaced (what Chromium writes).
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("png_stats: %s is not a PNG" % path)
    pos, idat, width = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                sys.exit("png_stats: only 8-bit RGB/RGBA non-interlaced PNGs (depth %d, colour %d)" % (depth, colour))
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    path, left, top, cw, ch = sys.argv[1], *map(int, sys.argv[2:])
    width, height, bpp, rows = decode(path)
    n = s = ss = 0
    colours = set()
    for y, row in enumerate(rows):
        for x in range(0, width * bpp, bpp * 2):  # every other pixel is plenty for the spread
            g = (row[x] + row[x + 1] + row[x + 2]) / 765
            n, s, ss = n + 1, s + g, ss + g * g
        if top <= y < top + ch:
            for x in range(max(0, left), min(width, left + cw)):
                colours.add(bytes(row[x * bpp:x * bpp + 3]))
    mean = s / n
    print("%.4f %d" % (max(0.0, ss / n - mean * mean) ** 0.5, len(colours)))


if __name__ == "__main__":
    main()
