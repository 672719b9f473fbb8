"""The caption a photo's file carries (EXIF ImageDescription, IPTC Caption-Abstract or
Headline, XMP dc:description or dc:title) as its story where album.yaml gives none: read from
real files of several makers (tests/fixtures/captions/README.md), and from files made here."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.blog_bench import make_dreamed_output
from pipeline.config import load_settings
from pipeline.ingest.exif import read_caption, read_exif
from pipeline.manifest import FILE_CAPTION_MAX, ExifInfo
from pipeline.privacy import within_privacy

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "captions"


@pytest.mark.parametrize(("name", "caption"), [
    ("canon-powershot-g9-gimp.jpg", "El cielo sobre Berlin (Heaven above Berlin)"),
    ("photoshop-cs2-bluesquare.jpg",
     "XMPFiles BlueSquare test file, created in Photoshop CS2, saved as .psd, .jpg, and .tif."),
    ("photoshop-cc-iptc-xmp.jpg", "Der Goalie bin ig"),   # no EXIF at all: IPTC's
    ("olympus-c960.jpg", None), ("konica-minolta-dimage-z3.jpg", None),   # the camera's default
    ("nikon-coolpix-p1.jpg", None), ("samsung-digimax-i50.jpg", None)])   # spaces; its own model
def test_the_caption_of_a_real_file(name, caption):
    assert read_exif(REAL / name).caption == caption


def test_a_long_caption_is_capped_on_one_line():
    caption = read_exif(REAL / "gimp-long-description.jpg").caption
    assert caption.startswith("Operation Mountain Viper") and "\n" not in caption
    assert len(ExifInfo(caption="word " * 400).caption) <= FILE_CAPTION_MAX


def _jpeg(exif: dict | None = None, xmp: bytes | None = None) -> Image.Image:
    data, image = io.BytesIO(), Image.new("RGB", (8, 8))
    extra = {}
    if exif:
        block = Image.Exif()
        block.update(exif)
        extra["exif"] = block.tobytes()
    if xmp:
        extra["xmp"] = xmp
    image.save(data, "JPEG", **extra)
    return Image.open(io.BytesIO(data.getvalue()))


def _tags(image: Image.Image) -> dict:
    import exifread
    block = image.info.get("exif", b"")
    return exifread.process_file(io.BytesIO(block[6:]), details=False) if block else {}


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_utf_8_and_latin_1_as_cameras_write_them(encoding):
    image = _jpeg({270: "Kraków, the Cloth Hall".encode(encoding)})
    assert read_caption(image, _tags(image)) == "Kraków, the Cloth Hall"


def test_xmp_in_its_order_escaped_text_and_nothing_expanded():
    packet = (b'<?xpacket begin=""?><!DOCTYPE x [<!ENTITY boom "BOOM">]><x:xmpmeta><rdf:RDF><rdf:Description>'
              b'<dc:title><rdf:Alt><rdf:li xml:lang="de">Markt</rdf:li><rdf:li xml:lang="x-default">'
              b'Fish &amp; chips &boom;</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>')
    image = _jpeg(xmp=packet)
    assert read_caption(image, {}) == "Fish & chips &boom;"   # the x-default; no entity of the DTD
    both = _jpeg({270: b"SONY DSC"}, xmp=packet.replace(b"<dc:title>", b"<dc:description>")
                 .replace(b"</dc:title>", b"</dc:description>"))
    assert read_caption(both, _tags(both)) == "Fish & chips &boom;"   # EXIF's is a camera's default


@pytest.mark.parametrize("junk", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "DSC_0087", "IMG_1234.JPG",
                                  "   ", "\0\0\0", "KODAK Digital Still Camera", "Exif_JPEG_PICTURE"])
def test_what_cameras_write_by_default_is_no_caption(junk):
    image = _jpeg({270: junk.encode()})
    assert read_caption(image, _tags(image)) is None


def test_album_yaml_wins_the_file_s_caption_is_the_story_and_text(tmp_path):
    """A real run's ingest (bench's stand-in dreams): the Canon file's caption is its story on
    the page and in post.md; album.yaml's story wins for the Photoshop one; a caption that
    looks like Markdown or HTML is shown as written."""
    album = tmp_path / "trip"
    album.mkdir()
    shutil.copy(REAL / "canon-powershot-g9-gimp.jpg", album / "berlin.jpg")
    shutil.copy(REAL / "photoshop-cs2-bluesquare.jpg", album / "square.jpg")
    (album / "album.yaml").write_text("photos:\n  square.jpg:\n    story: A blue square, as I saw it.\n")
    make_dreamed_output(album, tmp_path / "out", ["conv3_1"])
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "out" / "post.md").read_text(encoding="utf-8")
    assert "<p>El cielo sobre Berlin (Heaven above Berlin)</p>" in html
    assert "El cielo sobre Berlin (Heaven above Berlin)" in md
    assert "A blue square, as I saw it." in html and "XMPFiles" not in html + md


def test_a_caption_is_shown_as_written_and_the_setting_keeps_it_out(tmp_path):
    from pipeline.post.view import build_view
    from tests.post.test_map import three_cities

    manifest = three_cities()
    photo = manifest.photos[2].model_copy(update={"story": None, "exif": ExifInfo(caption="*Not* <b>bold</b> [x](y)")})
    view = build_view(manifest.model_copy(update={"photos": [*manifest.photos[:2], photo, *manifest.photos[3:]]}))
    shown = next(v for v in view["photos"] if v["source"] == photo.source)
    assert str(shown["story_html"]) == "<p>*Not* &lt;b&gt;bold&lt;/b&gt; [x](y)</p>"
    assert shown["story_md"].startswith("\\*Not\\*") and "<b>" not in shown["story_md"]
    off = load_settings(overrides={"privacy.file_captions": False}).privacy
    assert within_privacy(photo, off).exif.caption is None
    assert within_privacy(photo, load_settings().privacy).exif.caption == photo.exif.caption
