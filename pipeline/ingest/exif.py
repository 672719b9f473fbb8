"""EXIF: date taken, camera, orientation and GPS, read with exifread without decoding pixels.

EXIF is written by cameras, phones and editing tools, and sometimes by nobody sensible: every
field is optional, and a field that does not parse counts as absent rather than failing the photo.
A block that cannot be read at all, or is far larger than any camera writes, counts as no EXIF,
with a warning in the log and in the photo's record. Text fields are kept on one line and cut
at manifest.EXIF_TEXT_MAX characters (by the record itself, so every reader gets them cut).
"""

from __future__ import annotations

import html
import io
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import exifread
from PIL import Image, IptcImagePlugin

from pipeline.imaging import PhotoError, open_photo
from pipeline.manifest import FILE_MTIME, ExifInfo, Gps

log = logging.getLogger(__name__)
# exifread logs every oddity of a hostile block; read_exif says once per photo what it ignored.
logging.getLogger("exifread").setLevel(logging.ERROR)

# JPEG caps an EXIF block at 64 KiB; anything past 1 MiB did not come from a camera, and parsing
# it (exifread is pure Python) would cost more than the photo is worth.
MAX_EXIF_BYTES = 1 << 20

# Where the date taken comes from, best first: (the name recorded as its source, the date tag,
# that tag's sub-seconds tag, its UTC offset tag), as exifread names them.
_DATE_SOURCES = (
    ("DateTimeOriginal", "EXIF DateTimeOriginal", "EXIF SubSecTimeOriginal",
     "EXIF OffsetTimeOriginal"),
    ("DateTimeDigitized", "EXIF DateTimeDigitized", "EXIF SubSecTimeDigitized",
     "EXIF OffsetTimeDigitized"),
    ("DateTime", "Image DateTime", "EXIF SubSecTime", "EXIF OffsetTime"),
)
# Tags that only point to other parts of the block: alone, they are a block with nothing in it.
_POINTER_TAGS = {"Image ExifOffset", "Image GPSInfo", "EXIF InteroperabilityOffset"}

_DATE = re.compile(r"(\d{4})[:\-/.](\d\d)[:\-/.](\d\d)[ T](\d\d):(\d\d):(\d\d)")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")


def read_exif(path: Path, image: Image.Image | None = None, data: bytes | None = None) -> ExifInfo:
    """The EXIF of the photo at `path` (nothing for a file that is not a photo). Never raises.

    `image` is the same file already opened by pipeline.imaging.open_photo: its EXIF block is
    parsed from what Pillow read with the header, so the file is not read again. A TIFF is its
    own EXIF structure: it is parsed from `data`, the file's bytes, when given.
    """
    if image is None:
        try:
            with open_photo(path) as opened:
                return read_exif(path, opened)
        except (PhotoError, OSError):
            return ExifInfo()
    try:
        tags, orientation = _exif_tags(path, image, data)
    except _IgnoredExif as err:
        log.warning("%s: %s", path, err)
        return _with_file_date(ExifInfo(warning=str(err), caption=read_caption(image, {})), path)
    info = ExifInfo(camera=_field(_camera, tags), gps=_field(_gps, tags),
                    orientation=orientation or _field(_orientation, tags) or 1,
                    caption=read_caption(image, tags))
    date, source = _field(_date, tags) or (None, None)
    if date is None:
        return _with_file_date(info, path)
    return info.model_copy(update={"date": date, "date_source": source})


class _IgnoredExif(Exception):
    """The EXIF block is unreadable or implausible; the message says which."""


def _exif_tags(path: Path, image: Image.Image, data: bytes | None) -> tuple[dict, int | None]:
    """exifread's tags, and the orientation when the decoder moved it out of the EXIF block."""
    is_tiff = image.format == "TIFF"  # the file itself is the EXIF structure
    block = None if is_tiff else image.info.get("exif")
    if not is_tiff and not block:
        return {}, None
    if block and len(block) > MAX_EXIF_BYTES:
        raise _IgnoredExif(f"EXIF block of {len(block) / 2**20:.1f} MiB is larger than any camera "
                           f"writes: ignored")
    try:
        if is_tiff:
            with (io.BytesIO(data) if data is not None else open(path, "rb")) as f:
                tags = exifread.process_file(f, details=False, extract_thumbnail=False)
        else:
            tiff = block[6:] if block.startswith(b"Exif\x00\x00") else block
            tags = exifread.process_file(io.BytesIO(tiff), details=False, extract_thumbnail=False)
    except Exception as err:  # exifread raises many kinds (even AssertionError) on hostile input
        raise _IgnoredExif(f"EXIF unreadable, ignored ({type(err).__name__}: {err})") from None
    if not set(tags) - _POINTER_TAGS:  # exifread gives up quietly on a block it cannot follow
        raise _IgnoredExif("EXIF block holds no readable tags: ignored")
    # pillow-heif resets the EXIF orientation to 1 because libheif applies it while decoding;
    # the photo's record keeps what the file said.
    return tags, image.info.get("original_orientation")


def _field(parse, tags):
    """One field, or None when it does not parse: a bad field never costs the others."""
    try:
        return parse(tags)
    except (AttributeError, IndexError, KeyError, OverflowError, TypeError, ValueError,
            ZeroDivisionError):
        return None


def _with_file_date(info: ExifInfo, path: Path) -> ExifInfo:
    """The last resort for the date: when the file was last modified (copying may keep it)."""
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        return info
    return info.model_copy(update={"date": datetime.fromtimestamp(mtime).isoformat(timespec="seconds"),
                                   "date_source": FILE_MTIME})


# ---- date ----

def _date(tags) -> tuple[str, str] | None:
    """(ISO date, the tag it came from) from the first date tag that holds a real date."""
    for source, date_tag, subsec_tag, offset_tag in _DATE_SOURCES:
        when = _parse_date(_text(tags.get(date_tag)))
        if when is None:
            continue  # absent, blank or "0000:00:00 00:00:00": try the next tag
        digits = re.sub(r"\D", "", _text(tags.get(subsec_tag)))[:6]
        if digits:
            when = when.replace(microsecond=int(digits.ljust(6, "0")))
        offset = _parse_offset(_text(tags.get(offset_tag)))
        if offset is not None:
            when = when.replace(tzinfo=offset)
        timespec = "seconds" if not digits else "milliseconds" if len(digits) <= 3 else "microseconds"
        return when.isoformat(timespec=timespec), source
    return None


def _text(tag) -> str:
    return "" if tag is None else str(tag).replace("\x00", "").strip()


def _parse_date(text: str) -> datetime | None:
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # month 0, day 32, year 0...
        return None


def _parse_offset(text: str) -> timezone | None:
    """'+02:00' -> UTC+2; blanks and nonsense (+99:00) -> None."""
    match = _OFFSET.fullmatch(text)
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:  # the world's zones span -12..+14
        return None
    return timezone(-delta if sign == "-" else delta)


# ---- the caption the file carries ----

# What cameras and tools write where nobody wrote a caption: not a traveller's words.
_NO_CAPTION = re.compile(
    r"(?:[\w-]+ )*digital (?:still )?camera|sony dsc|exif_jpeg_picture|default|untitled|<untitled>|"
    r"image|picture|photo|camera|"
    r"[a-z]{1,5}[_-]?\d{3,6}(?:\.\w{3,4})?",   # a file's name: DSC_0087, IMG_1234.JPG, P1010001
    re.IGNORECASE)
# An XMP packet past this is no camera's or photo manager's (JPEG's is at most 64 KiB).
_MAX_XMP_BYTES = 1 << 20
_IPTC_UTF8 = b"\x1b%G"   # IPTC 1:90, the coded character set: UTF-8


def read_caption(image: Image.Image, tags: dict) -> str | None:
    """The caption or title the photo's file carries, as its traveller or their photo manager
    wrote it: EXIF ImageDescription, IPTC Caption-Abstract, IPTC Headline, XMP dc:description,
    XMP dc:title, the first that says something (not a camera's default, not the camera's or a
    file's name). Never raises; the record caps it (manifest.FILE_CAPTION_MAX)."""
    make, model = (_text(tags.get(name)) or "" for name in ("Image Make", "Image Model"))
    for read in (lambda: _exif_description(tags), lambda: _iptc(image, 120), lambda: _iptc(image, 105),
                 lambda: _xmp(image, "description"), lambda: _xmp(image, "title")):
        try:
            text = read()
        except Exception:   # a hostile IPTC or XMP block: that one says nothing
            continue
        text = " ".join((text or "").replace("\0", " ").split())
        if text and not _says_nothing(text, make, model):
            return text
    return None


def _says_nothing(text: str, make: str, model: str) -> bool:
    names = {name.strip().lower() for name in (make, model, f"{make} {model}") if name.strip()}
    model = model.strip().lower()
    return bool(_NO_CAPTION.fullmatch(text)) or text.lower() in names or \
        (len(model) >= 4 and model in text.lower())   # "<Digimax i50 MP3, Samsung #1 MP3>"


def _decoded(data: bytes | str, utf8: bool = False) -> str:
    """Text as cameras write it: UTF-8 where it is valid, else Latin-1."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8" if utf8 else "latin-1", "replace")


def _exif_description(tags: dict) -> str | None:
    tag = tags.get("Image ImageDescription")
    return _decoded(tag.values) if tag is not None and isinstance(tag.values, (str, bytes)) else None


def _iptc(image: Image.Image, dataset: int) -> str | None:
    """IPTC record 2's `dataset` (120: Caption-Abstract, 105: Headline)."""
    info = IptcImagePlugin.getiptcinfo(image) or {}
    value = info.get((2, dataset))
    if isinstance(value, list):
        value = value[0] if value else None
    return _decoded(value, utf8=info.get((1, 90)) == _IPTC_UTF8) if isinstance(value, bytes) else None


def _xmp(image: Image.Image, element: str) -> str | None:
    """dc:`element` of the XMP packet: its x-default language, else its first. Read as text with
    a pattern, not an XML parser: nothing in the packet (entities, DTDs) is expanded."""
    packet = image.info.get("xmp")
    if not isinstance(packet, (bytes, str)) or len(packet) > _MAX_XMP_BYTES:
        return None
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    found = re.search(rf"<dc:{element}\b[^>]*>(.*?)</dc:{element}>", text, re.DOTALL)
    if found is None:
        return None
    items = re.findall(r"<rdf:li\b([^>]*)>(.*?)</rdf:li>", found.group(1), re.DOTALL)
    chosen = next((value for attributes, value in items if "x-default" in attributes),
                  items[0][1] if items else found.group(1))
    return None if "<" in chosen else html.unescape(chosen)


# ---- camera and orientation ----

def _camera(tags) -> str | None:
    make = _text(tags.get("Image Make"))
    model = _text(tags.get("Image Model"))
    if model and make and not model.lower().startswith(make.split()[0].lower()):
        return f"{make} {model}"  # "Apple" + "iPhone 6s"; but not "Canon Canon EOS 5D"
    return model or make or None


def _orientation(tags) -> int:
    value = int(tags["Image Orientation"].values[0])
    return value if 1 <= value <= 8 else 1


# ---- GPS ----

def _gps(tags) -> Gps | None:
    lat = _degrees(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"), "NS", 90)
    lon = _degrees(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"), "EW", 180)
    if lat is None or lon is None or (lat == 0 and lon == 0):  # 0, 0: a receiver with no fix
        return None
    alt = _field(lambda t: _altitude(t.get("GPS GPSAltitude"), t.get("GPS GPSAltitudeRef")), tags)
    return Gps(lat=round(lat, 6), lon=round(lon, 6), alt=alt)


def _degrees(tag, ref, refs: str, limit: float) -> float | None:
    """Degrees, minutes, seconds (rationals) and a ref letter to signed decimal degrees.

    Some writers give only degrees, or degrees and decimal minutes. A missing or unknown ref
    counts as north/east (positive), as exiftool reads it. Minutes or seconds of exactly 60,
    written by cameras that round (59.996" -> 60"), carry into the next minute or degree. A zero
    denominator, minutes or seconds beyond 60, negative parts and values beyond +-`limit` make the
    coordinate unusable.
    """
    if tag is None:
        return None
    parts = [_rational(r) for r in list(tag.values)[:3]]
    if not parts or None in parts or any(p < 0 for p in parts):
        return None
    degrees, minutes, seconds = (parts + [0.0, 0.0])[:3]
    if minutes > 60 or seconds > 60:
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if value > limit:
        return None
    return -value if _text(ref).upper()[:1] == refs[1] else value


def _rational(value) -> float | None:
    """A rational (or a plain number) as a float; None for a zero denominator (even 0/0: a
    writer that had no value should have left the tag out, so the position is not trusted)."""
    num, den = (value.num, value.den) if hasattr(value, "den") else (value, 1)
    return None if den == 0 else float(num) / float(den)


def _altitude(tag, ref) -> float | None:
    """Metres above sea level; ref 1 means below it."""
    if tag is None:
        return None
    metres = _rational(tag.values[0])
    if metres is None or abs(metres) > 100_000:  # higher than any aircraft: a broken value
        return None
    below = ref is not None and str(ref.values[0] if hasattr(ref, "values") else ref).strip() == "1"
    return round(-metres if below else metres, 1)
