#!/usr/bin/env python3
"""Makes the small image fixtures of Tests/AtlasImageTests/Fixtures.

PNGs are written by a stdlib-only PNG encoder below (every bit depth, colour type, palette, tRNS and Adam7
interlacing, with exactly known sample values); `png_layouts.json` records, for each, the size and the
decoded samples a PNG decoder must produce (planar c, y, x, after expanding to 8 bits / keeping 16 bits).
JPEGs need Pillow (progressive, grayscale, CMYK, EXIF orientation) and ImageMagick's `convert` (YCCK).
When Pillow is present, each PNG is also decoded by Pillow and checked against the manifest.

Run:  /tmp/atlas-ref/bin/python scripts/make_image_fixtures.py   (any Python 3 with Pillow)
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "AtlasImageTests", "Fixtures")

# ---------------------------------------------------------------- PNG writer


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """Packs one row of integer samples (already interleaved) at `depth` bits, MSB first."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_bytes(width, height, color_type, depth, rows, palette=None, trns=None, interlace=False):
    """rows[y][x] is a tuple of raw samples (palette index for type 3)."""
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            xs, ys = range(x0, width, dx), range(y0, height, dy)
            if not xs or not ys:
                continue
            for y in ys:
                raw.append(0)
                raw += pack_row([s for x in xs for s in rows[y][x]], depth)
    else:
        for y in range(height):
            raw.append(0)
            raw += pack_row([s for x in range(width) for s in rows[y][x]], depth)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette is not None:
        out += chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def pattern(x, y, c, depth):
    if depth == 16:
        return (x * 4099 + y * 997 + c * 12345 + 31) % 65536
    return (x * 3 + y * 5 + c * 7 + 1) % (1 << depth)


def make_png_layouts():
    cases, manifest = [], []
    # (name, color type, depth, interlace, extra)
    for depth in (1, 2, 4, 8, 16):
        cases.append((f"gray{depth}", 0, depth, False, None))
    cases += [("gray8_trns", 0, 8, False, "trns"), ("gray16_trns", 0, 16, False, "trns"),
              ("graya8", 4, 8, False, None), ("graya16", 4, 16, False, None),
              ("rgb8", 2, 8, False, None), ("rgb16", 2, 16, False, None), ("rgb8_trns", 2, 8, False, "trns"),
              ("rgba8", 6, 8, False, None), ("rgba16", 6, 16, False, None)]
    for depth in (1, 2, 4, 8):
        cases.append((f"palette{depth}", 3, depth, False, None))
    cases += [("palette8_trns", 3, 8, False, "trns"), ("palette4_trns", 3, 4, False, "trns"),
              ("rgb8_interlaced", 2, 8, True, None), ("gray1_interlaced", 0, 1, True, None),
              ("palette2_interlaced", 3, 2, True, None), ("rgba16_interlaced", 6, 16, True, None),
              ("graya8_interlaced", 4, 8, True, None)]
    for name, ct, depth, interlace, extra in cases:
        w, h = (9, 9) if interlace else (7, 5)
        maxv = 65535 if depth == 16 else 255
        scale = 1 if depth in (8, 16) else 255 // ((1 << depth) - 1)
        palette = trns = None
        if ct == 3:
            n = 1 << depth
            palette = [((i * 67 + 13) % 256, (i * 29 + 200) % 256, (255 - i * 11) % 256) for i in range(n)]
            idx = [[(x * 3 + y * 5 + 1) % n for x in range(w)] for y in range(h)]
            rows = [[(idx[y][x],) for x in range(w)] for y in range(h)]
            alpha = None
            if extra == "trns":
                avals = [(i * 97 + 5) % 256 for i in range(max(1, n - 3))]  # shorter than the palette
                trns = bytes(avals)
                alpha = [[avals[idx[y][x]] if idx[y][x] < len(avals) else 255 for x in range(w)] for y in range(h)]
            planes = [[[palette[idx[y][x]][c] for x in range(w)] for y in range(h)] for c in range(3)]
            if alpha is not None:
                planes.append(alpha)
        else:
            nch = {0: 1, 2: 3, 4: 2, 6: 4}[ct]
            rows = [[tuple(pattern(x, y, c, depth) for c in range(nch)) for x in range(w)] for y in range(h)]
            planes = [[[rows[y][x][c] * scale for x in range(w)] for y in range(h)] for c in range(nch)]
            if extra == "trns":
                key = rows[2][3]  # this colour becomes fully transparent
                trns = b"".join(struct.pack(">H", v) for v in key)
                planes.append([[0 if rows[y][x] == key else maxv for x in range(w)] for y in range(h)])
        data = png_bytes(w, h, ct, depth, rows, palette, trns, interlace)
        write(f"png/{name}.png", data)
        flat = [v for plane in planes for row in plane for v in row]
        manifest.append({"file": f"png/{name}.png", "width": w, "height": h, "channels": len(planes),
                         "max": maxv, "samples": flat})
        check_with_pillow(data, w, h, planes, maxv, depth, name)
    write("png_layouts.json", json.dumps(manifest, separators=(",", ":")).encode())


def check_with_pillow(data, w, h, planes, maxv, depth, name):
    try:
        from PIL import Image
    except ImportError:
        return
    import io
    im = Image.open(io.BytesIO(data))
    im.load()
    if depth == 16 or im.mode in ("I", "I;16", "I;16B"):
        return  # Pillow narrows 16-bit colour; the 8-bit layouts are enough to validate the writer
    im = im.convert("RGBA" if len(planes) in (2, 4) else "RGB" if len(planes) == 3 else "L")
    for y in range(h):
        for x in range(w):
            px = im.getpixel((x, y))
            px = px if isinstance(px, tuple) else (px,)
            want = [planes[c][y][x] for c in range(len(planes))]
            if len(planes) == 2:
                want = [want[0], want[0], want[0], want[1]]
            assert list(px) == want, (name, x, y, px, want)

# ---------------------------------------------------------------- JPEG fixtures

QUADS = [(230, 30, 30), (30, 200, 40), (40, 60, 220), (245, 245, 245)]  # TL, TR, BL, BR (display order)


def quadrant_image(w, h, colors, mode="RGB"):
    from PIL import Image
    im = Image.new(mode, (w, h))
    for y in range(h):
        for x in range(w):
            im.putpixel((x, y), colors[(0 if y < h // 2 else 2) + (0 if x < w // 2 else 1)])
    return im


def make_jpegs():
    from PIL import Image, ImageOps
    import io
    base = quadrant_image(32, 16, QUADS)
    save(base, "jpeg/baseline.jpg", quality=95, subsampling=0)
    save(base, "jpeg/progressive.jpg", quality=95, subsampling=0, progressive=True)
    save(quadrant_image(32, 16, [0, 85, 170, 255], "L"), "jpeg/gray.jpg", quality=95)
    # CMYK inks per quadrant: cyan, magenta, yellow, 50% black (Pillow stores them Adobe-inverted).
    cmyk = quadrant_image(32, 16, [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 128)], "CMYK")
    save(cmyk, "jpeg/cmyk.jpg", quality=95)
    if shutil.which("convert"):
        tmp = os.path.join(OUT, "jpeg", "_cmyk.tif")
        cmyk.save(tmp)
        # ImageMagick writes CMYK JPEGs as YCCK (Adobe transform 2).
        subprocess.run(["convert", tmp, "-quality", "95", "-sampling-factor", "1x1", "-strip",
                        os.path.join(OUT, "jpeg", "ycck.jpg")], check=True)
        os.remove(tmp)
    # EXIF orientation k: the stored pixels are the display image transformed by the inverse of k, so
    # applying orientation k must give back `base` (checked here with Pillow's exif_transpose).
    inverse = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
               7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
    for k in range(1, 9):
        stored = base if inverse[k] is None else base.transpose(inverse[k])
        exif = Image.Exif()
        exif[0x0112] = k
        buf = io.BytesIO()
        stored.save(buf, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
        shown = ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue())))
        assert shown.size == base.size, (k, shown.size)
        for (x, y), color in zip([(1, 1), (30, 1), (1, 14), (30, 14)], QUADS):
            got = shown.getpixel((x, y))
            assert max(abs(a - b) for a, b in zip(got, color)) < 12, (k, x, y, got, color)
        write(f"jpeg/orientation{k}.jpg", buf.getvalue())


def save(im, rel, **kw):
    import io
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    write(rel, buf.getvalue())

# ---------------------------------------------------------------- bad inputs


def make_bad():
    good_png = png_bytes(16, 16, 2, 8, [[((x * 16) % 256, (y * 16) % 256, 128) for x in range(16)] for y in range(16)])
    write("bad/truncated.png", good_png[: len(good_png) * 2 // 3])
    # Flip bytes inside IDAT (the CRC no longer matches).
    idat = good_png.index(b"IDAT") + 8
    broken = bytearray(good_png)
    for i in range(idat, idat + 10):
        broken[i] ^= 0x5A
    write("bad/corrupt.png", bytes(broken))
    # IHDR claims 100000 x 100000 (CRC fixed, so only the size is wrong).
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    write("bad/huge_ihdr.png", good_png[:8] + chunk(b"IHDR", ihdr) + good_png[33:])
    write("bad/empty.png", b"")
    write("bad/text.png", b"this is not an image, only a text file named like one\n")
    with open(os.path.join(OUT, "jpeg", "baseline.jpg"), "rb") as f:
        jpg = f.read()
    write("bad/truncated.jpg", jpg[: len(jpg) * 2 // 3])
    sof = jpg.index(b"\xff\xc0")
    lying = bytearray(jpg)
    lying[sof + 5: sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    write("bad/huge_sof.jpg", bytes(lying))
    bad_precision = bytearray(jpg)
    bad_precision[sof + 4] = 7  # sample precision 7 bits: invalid
    write("bad/corrupt.jpg", bytes(bad_precision))


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    make_png_layouts()
    try:
        import PIL  # noqa: F401
    except ImportError:
        sys.exit("Pillow is needed for the JPEG fixtures (use /tmp/atlas-ref/bin/python)")
    make_jpegs()
    make_bad()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"fixtures in {os.path.normpath(OUT)}: {total} bytes")


if __name__ == "__main__":
    main()
