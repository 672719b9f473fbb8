"""Photo files made in the tests: tiny images in every format and mode, EXIF blocks written byte
by byte (so that broken ones can be written too), ICC profiles, and hand-made headers for the
formats Pillow cannot write (16-bit RGB PNG/TIFF) or should not (decompression bombs)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageCms

from helpers import BOTTOM_LEFT, BOTTOM_RIGHT, TOP_LEFT, TOP_RIGHT, quadrant_image

# helpers' quadrant picture, colours by name: red, green / blue, yellow
RED, GREEN, BLUE, YELLOW = TOP_LEFT, TOP_RIGHT, BOTTOM_LEFT, BOTTOM_RIGHT


def corner_colours(image: Image.Image) -> tuple:
    """The colours at the middle of the four quadrants, TL TR BL BR (away from the edges and the
    seams, which JPEG blurs)."""
    w, h = image.size
    rgb = image.convert("RGB")
    return tuple(rgb.getpixel((x, y)) for y in (h // 4, 3 * h // 4) for x in (w // 4, 3 * w // 4))


# ---------------------------------------------------------------- EXIF, byte by byte

ASCII, SHORT, LONG, RATIONAL, BYTE, UNDEFINED = 2, 3, 4, 5, 1, 7
EXIF_IFD, GPS_IFD = 0x8769, 0x8825

TAGS = {  # the tags the tests write, by name
    "Make": (0x010F, ASCII), "Model": (0x0110, ASCII), "Orientation": (0x0112, SHORT),
    "DateTime": (0x0132, ASCII),
    "DateTimeOriginal": (0x9003, ASCII), "DateTimeDigitized": (0x9004, ASCII),
    "OffsetTime": (0x9010, ASCII), "OffsetTimeOriginal": (0x9011, ASCII),
    "OffsetTimeDigitized": (0x9012, ASCII), "SubSecTime": (0x9290, ASCII),
    "SubSecTimeOriginal": (0x9291, ASCII), "SubSecTimeDigitized": (0x9292, ASCII),
    "GPSLatitudeRef": (1, ASCII), "GPSLatitude": (2, RATIONAL), "GPSLongitudeRef": (3, ASCII),
    "GPSLongitude": (4, RATIONAL), "GPSAltitudeRef": (5, BYTE), "GPSAltitude": (6, RATIONAL),
}
_IN_IFD0 = {"Make", "Model", "Orientation", "DateTime"}


def exif_block(**fields) -> bytes:
    """An EXIF block ("Exif\\0\\0" + little-endian TIFF) with the named fields.

    Values: text for ASCII, an int for SHORT/BYTE, and for RATIONAL a list of (num, den) pairs,
    zero denominators allowed. Fields whose tag is in the GPS or EXIF sub-IFD go there.
    """
    ifd0 = {k: v for k, v in fields.items() if k in _IN_IFD0}
    gps = {k: v for k, v in fields.items() if k.startswith("GPS")}
    exif = {k: v for k, v in fields.items() if k not in ifd0 and k not in gps}
    return b"Exif\x00\x00" + _tiff(ifd0, {EXIF_IFD: exif, GPS_IFD: gps})


def _tiff(ifd0: dict, sub_ifds: dict) -> bytes:
    # Layout: header, IFD0, then each non-empty sub-IFD; each IFD followed by its own data area.
    header = b"II*\x00" + struct.pack("<I", 8)
    subs = {tag: fields for tag, fields in sub_ifds.items() if fields}
    entries0 = [_entry(name, value) for name, value in ifd0.items()]
    entries0 += [(tag, LONG, 1, None) for tag in subs]  # offsets, filled in below
    offset = 8
    ifd0_size = _ifd_size(entries0)
    sub_offsets, sub_blobs, next_offset = {}, [], offset + ifd0_size
    for tag, fields in subs.items():
        entries = [_entry(name, value) for name, value in fields.items()]
        sub_offsets[tag] = next_offset
        blob = _ifd(entries, next_offset)
        sub_blobs.append(blob)
        next_offset += len(blob)
    entries0 = [(t, ty, c, struct.pack("<I", sub_offsets[t]) if v is None else v)
                for t, ty, c, v in entries0]
    return header + _ifd(entries0, offset) + b"".join(sub_blobs)


def _entry(name: str, value):
    tag, kind = TAGS[name]
    if kind == ASCII:
        data = value.encode("latin-1") + b"\x00"
        return tag, kind, len(data), data
    if kind == SHORT:
        return tag, kind, 1, struct.pack("<H", value)
    if kind == BYTE:
        return tag, kind, 1, struct.pack("<B", value)
    return tag, kind, len(value), b"".join(struct.pack("<II", n, d) for n, d in value)


def _ifd_size(entries) -> int:
    data = sum(len(v) if v is not None and len(v) > 4 else 0 for *_, v in entries)
    return 2 + 12 * len(entries) + 4 + data


def _ifd(entries, at: int) -> bytes:
    """One IFD at file offset `at`, its out-of-line values right after it."""
    entries = sorted(entries, key=lambda e: e[0])
    data_at = at + 2 + 12 * len(entries) + 4
    table, data = [struct.pack("<H", len(entries))], b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            table.append(struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00"))
        else:
            table.append(struct.pack("<HHII", tag, kind, count, data_at + len(data)))
            data += value + (b"\x00" if len(value) % 2 else b"")
    return b"".join(table) + struct.pack("<I", 0) + data


def jpeg_with_exif(path: Path, exif: bytes | None = None, image: Image.Image | None = None,
                   **save) -> Path:
    image = image or quadrant_image()
    image.save(path, "JPEG", quality=95, **({"exif": exif} if exif is not None else {}), **save)
    return path


# ---------------------------------------------------------------- ICC profiles

def cmyk_profile() -> bytes:
    """A small but real CMYK printer profile (ICC v2, an 8-bit A2B0 lookup table): each ink
    filters white paper the way process inks do, so 100% cyan is a mid blue (about sRGB 0, 158,
    224), not the (0, 255, 255) of converting without a profile."""
    inks = {"C": (0, 158, 224), "M": (236, 0, 140), "Y": (255, 242, 0), "K": (35, 31, 32)}
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"),
                                     "RGB", "LAB")
    grid = []
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    rgb = [255.0, 255.0, 255.0]
                    for on, ink in zip((c, m, y, k), "CMYK"):
                        if on:
                            rgb = [v * i / 255 for v, i in zip(rgb, inks[ink])]
                    lab = ImageCms.applyTransform(Image.new("RGB", (1, 1), tuple(map(round, rgb))),
                                                  to_lab).getpixel((0, 0))
                    grid.append(bytes(lab))  # Pillow's LAB: L 0..255, a and b offset by 128
    identity = b"".join(struct.pack(">i", 65536 if i % 4 == 0 else 0) for i in range(9))
    ramp = bytes(range(256))
    a2b0 = (b"mft1" + b"\x00" * 4 + bytes([4, 3, 2, 0]) + identity + ramp * 4 + b"".join(grid)
            + ramp * 3)
    white = b"XYZ " + b"\x00" * 4 + b"".join(struct.pack(">i", round(v * 65536))
                                             for v in (0.9642, 1.0, 0.8249))
    name = b"Test CMYK"
    desc = (b"desc" + b"\x00" * 4 + struct.pack(">I", len(name) + 1) + name + b"\x00"
            + b"\x00" * 8 + b"\x00" * 3 + b"\x00" * 67)
    return _icc(b"prtr", b"CMYK", b"Lab ", {b"desc": desc, b"wtpt": white, b"A2B0": a2b0})


def adobe_rgb_profile() -> bytes:
    """A matrix/curve RGB profile with Adobe RGB (1998)'s primaries (D50-adapted) and gamma 2.2:
    a wider gamut than sRGB, so the same numbers mean more saturated colours."""
    def xyz(x, y, z):
        return b"XYZ " + b"\x00" * 4 + b"".join(struct.pack(">i", round(v * 65536)) for v in (x, y, z))
    gamma = b"curv" + b"\x00" * 4 + struct.pack(">IH", 1, 563)  # 563 / 256 = 2.2
    name = b"Test Adobe RGB"
    desc = (b"desc" + b"\x00" * 4 + struct.pack(">I", len(name) + 1) + name + b"\x00"
            + b"\x00" * 8 + b"\x00" * 3 + b"\x00" * 67)
    return _icc(b"mntr", b"RGB ", b"XYZ ", {
        b"desc": desc, b"wtpt": xyz(0.9642, 1.0, 0.8249),
        b"rXYZ": xyz(0.6097, 0.3111, 0.0195), b"gXYZ": xyz(0.2053, 0.6257, 0.0609),
        b"bXYZ": xyz(0.1492, 0.0632, 0.7446),
        b"rTRC": gamma, b"gTRC": gamma, b"bTRC": gamma})


def _icc(device_class: bytes, colour_space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    offset = 128 + 4 + 12 * len(tags)
    table, data = [struct.pack(">I", len(tags))], b""
    for signature, body in tags.items():
        body += b"\x00" * (-len(body) % 4)
        table.append(signature + struct.pack(">II", offset + len(data), len(body)))
        data += body
    size = offset + len(data)
    d50 = b"".join(struct.pack(">i", round(v * 65536)) for v in (0.9642, 1.0, 0.8249))
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + device_class
              + colour_space + pcs + b"\x00" * 12 + b"acsp" + b"\x00" * 24 + struct.pack(">I", 0)
              + d50 + b"\x00" * 4 + b"\x00" * 16 + b"\x00" * 28)
    assert len(header) == 128
    return header + b"".join(table) + data


# ---------------------------------------------------------------- hand-made files

def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None,
              idat: bytes | None = None) -> bytes:
    """A PNG from raw scanlines (each with its filter byte), or with a given IDAT payload."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    payload = idat if idat is not None else zlib.compress(rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", payload)
            + chunk(b"IEND", b""))


def png16_rgb(width: int, height: int, rgb16: tuple[int, int, int]) -> bytes:
    row = b"\x00" + struct.pack(">HHH", *rgb16) * width
    return png_bytes(width, height, 16, 2, row * height)


def tiff16_rgb(width: int, height: int, rgb16: tuple[int, int, int]) -> bytes:
    """An uncompressed 16-bit-per-channel RGB TIFF (Pillow reads these but cannot write them)."""
    pixels = struct.pack("<HHH", *rgb16) * (width * height)
    entries = [  # tag, type, count, value (inline)
        (256, SHORT, 1, width), (257, SHORT, 1, height), (258, SHORT, 3, None),
        (259, SHORT, 1, 1), (262, SHORT, 1, 2), (273, LONG, 1, None), (277, SHORT, 1, 3),
        (278, SHORT, 1, height), (279, LONG, 1, len(pixels)), (284, SHORT, 1, 1),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = 8 + ifd_size
    pixels_at = bits_at + 6
    table = [struct.pack("<H", len(entries))]
    for tag, kind, count, value in entries:
        if tag == 258:
            table.append(struct.pack("<HHII", tag, kind, count, bits_at))
        elif tag == 273:
            table.append(struct.pack("<HHII", tag, kind, count, pixels_at))
        elif kind == SHORT:
            table.append(struct.pack("<HHIHH", tag, kind, count, value, 0))
        else:
            table.append(struct.pack("<HHII", tag, kind, count, value))
    return (b"II*\x00" + struct.pack("<I", 8) + b"".join(table) + struct.pack("<I", 0)
            + struct.pack("<HHH", 16, 16, 16) + pixels)


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG of a few hundred bytes whose header claims `width` x `height` pixels."""
    return png_bytes(width, height, 8, 2, None, idat=zlib.compress(b"\x00" * 1024))


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A small real JPEG whose frame header (SOF0) is patched to claim `width` x `height`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), RED).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path
