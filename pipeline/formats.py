"""What a file is, judged by its first bytes rather than its name.

A PNG saved as `.jpg` is still a photo; a text file named `.jpg` is not; a phone's `.MOV` is a video
and a camera's `.NEF` a RAW file. The album scan uses this to sort files, and ingest uses it to say
precisely why a file that claims to be a photo is not one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 64  # enough for every signature below

PHOTO, VIDEO, RAW, OTHER, EMPTY = "photo", "video", "raw", "other", "empty"

# Extensions of camera RAW files. Several of them are TIFF inside (NEF, CR2, ARW, DNG...), so their
# name, not their content, is what tells them apart from a TIFF photo.
RAW_EXTENSIONS = {
    ".3fr", ".ari", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".iiq", ".k25",
    ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw", ".rw2", ".rwl",
    ".sr2", ".srf", ".srw", ".x3f",
}
VIDEO_EXTENSIONS = {
    ".3g2", ".3gp", ".avi", ".flv", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".mts",
    ".ogv", ".webm", ".wmv",
}

# ISO base media files (HEIF, MP4, MOV, CR3...) say what they are in the brands of their `ftyp` box.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"msf1", b"hevc", b"hevx"}
_AVIF_BRANDS = {b"avif", b"avis"}
_RAW_BRANDS = {b"crx "}  # Canon CR3


@dataclass(frozen=True)
class Sniffed:
    kind: str   # photo | video | raw | other | empty
    name: str   # the format in words: "JPEG", "HEIF", "MP4/QuickTime video", "text", ...

    @property
    def is_photo(self) -> bool:
        return self.kind == PHOTO


def sniff_file(path: Path) -> Sniffed:
    """Sniff the file at `path` (reads its first bytes only). Raises OSError if it cannot be read."""
    with open(path, "rb") as f:
        return sniff(f.read(HEAD_BYTES))


def sniff(head: bytes) -> Sniffed:
    """What the file that starts with `head` is."""
    if not head:
        return Sniffed(EMPTY, "empty file")
    for check in (_photo_format, _iso_media, _video_container, _raw_format, _document):
        found = check(head)
        if found is not None:
            return found
    if _looks_like_text(head):
        return Sniffed(OTHER, "text")
    return Sniffed(OTHER, "unknown content")


def _photo_format(head: bytes) -> Sniffed | None:
    if head.startswith(b"\xff\xd8"):  # SOI; a broken file may lack the next marker
        return Sniffed(PHOTO, "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(PHOTO, "PNG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(PHOTO, "GIF")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(PHOTO, "WebP")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        if head[8:10] == b"CR":  # Canon CR2: a TIFF whose header says so
            return Sniffed(RAW, "Canon CR2 RAW")
        return Sniffed(PHOTO, "TIFF")
    if head[:2] == b"BM" and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return Sniffed(PHOTO, "BMP")  # the header-size byte keeps "BM..." text from matching
    return None


def _iso_media(head: bytes) -> Sniffed | None:
    """HEIF photos, AVIF, CR3 and MP4/MOV videos all start with an `ftyp` box."""
    if head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[:4], "big")
    end = min(max(box_size, 16), len(head))
    brands = {head[8:12]} | {head[i:i + 4] for i in range(16, end - 3, 4)}
    if head[8:12] in _AVIF_BRANDS or (brands & _AVIF_BRANDS and not brands & _HEIF_BRANDS):
        return Sniffed(OTHER, "AVIF image (not supported yet)")
    if brands & _HEIF_BRANDS:
        return Sniffed(PHOTO, "HEIF")
    if brands & _RAW_BRANDS:
        return Sniffed(RAW, "Canon CR3 RAW")
    return Sniffed(VIDEO, "MP4/QuickTime video")


def _video_container(head: bytes) -> Sniffed | None:
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed(VIDEO, "AVI video")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed(VIDEO, "Matroska/WebM video")
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return Sniffed(VIDEO, "MPEG video")
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return Sniffed(VIDEO, "Windows Media video")
    if head[0] == 0 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):  # old QuickTime
        return Sniffed(VIDEO, "QuickTime video")
    return None


def _raw_format(head: bytes) -> Sniffed | None:
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return Sniffed(RAW, "Fujifilm RAF RAW")
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return Sniffed(RAW, "Olympus ORF RAW")
    if head[:4] == b"IIU\x00":
        return Sniffed(RAW, "Panasonic RW2 RAW")
    if head[:4] == b"FOVb":
        return Sniffed(RAW, "Sigma X3F RAW")
    return None


def _document(head: bytes) -> Sniffed | None:
    if head.startswith(b"%PDF"):
        return Sniffed(OTHER, "PDF document")
    if head.startswith(b"PK\x03\x04"):
        return Sniffed(OTHER, "ZIP archive (or an office document)")
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a multi-byte letter cut at the end of `head`
            return False
    return True
