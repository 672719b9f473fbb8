"""The post in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright for Python. Playwright never downloads a browser here; it drives /usr/bin/chromium.

Two pages are tested: the sample album as the pipeline makes it (the real flow, small
settings), and a page whose every text is hostile (script tags in stories, captions, camera
names and file names; file names with spaces, quotes, '#', '%' and non-ASCII letters).

With CI=true a missing Chromium fails these tests; elsewhere they are skipped, saying why
(`make test` installs it when it runs as root). Screenshots go to test-artifacts/ (git-ignored):
look at them after a change to the page. DREAMTRIP_PAGE=out/sample-album runs the sample-page
tests on a page you made yourself instead of making one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
# DREAMTRIP_CHROMIUM: another Chromium binary (or a missing one, to see these tests skip).
CHROMIUM = os.environ.get("DREAMTRIP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# No GPU, no sandbox (CI runs as root), and nothing that phones home: the tests must pass offline.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
XSS = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 1'>"


# ---------------------------------------------------------------- the browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"{reason}: CI must run the browser tests (make test installs chromium as root)",
                    pytrace=False)
    pytest.skip(f"{reason}; install it (apt-get install chromium) to run the browser tests")


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
        "images: {working_size: 160, web_sizes: [160, 320]}\n"
        "dream: {octaves: 2, steps: 2, jitter: 8}\n"
        "tasks: {retries: 0}\n"
        f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n")
    out = tmp_path_factory.mktemp("sample-page")
    code = main(["run", str(REPO / "data" / "sample-album"), "-c", str(config), "-o", str(out),
                 "--device", "cpu"])
    assert code == 0, "the sample album should dream without failures"
    return out


def _jpeg(path: Path, size, colour) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=80)
    return {"width": size[0], "height": size[1]}


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> Path:
    """A page whose text tries to run script, with files whose names try to break URLs."""
    from pipeline.page import write_page

    out = tmp_path_factory.mktemp("hostile")
    odd = 'Škoda "tram" #2 100% & co\'s'
    web = [{"path": f"photos/{odd}-192.jpg", **_jpeg(out / f"photos/{odd}-192.jpg", (192, 128), "teal")},
           {"path": f"photos/{odd}-384.jpg", **_jpeg(out / f"photos/{odd}-384.jpg", (384, 256), "teal")}]
    dream = {"layer": "conv3_1", "status": "ok", "error": None, "seconds": 1.0,
             "path": f"dreams/{odd} dream.jpg",
             **_jpeg(out / f"dreams/{odd} dream.jpg", (192, 128), "orange")}
    manifest = {
        "dreamtrip_version": "0.1.0", "created": "2026-11-25T10:00:00+00:00",
        "album": {"name": f"album {XSS}", "title": f"Trip {XSS}", "intro": f"Intro {XSS}",
                  "outro": f"[click me](javascript:window.__pwned=1) {XSS}"},
        "weights": {"source": "hed", "description": f"weights {XSS}", "reason": XSS, "note": None},
        "device": XSS, "dream_params": {"steps": XSS}, "layers": ["conv3_1"],
        "photos": [{
            "source": f"day one/{odd}.jpg", "sha256": "ab" * 32, "status": "ok", "error": None,
            "story": f"A *story* with {XSS} in it, and a very long word "
                     "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen.",
            "exif": {"date": "2016-06-13T09:17:42", "camera": f"Camera {XSS}",
                     "gps": {"lat": 50.0865, "lon": 14.4114}, "orientation": 1},
            "place": {"name": f"Prague {XSS}", "country": "Czechia", "country_code": "CZ"},
            "image": web[-1], "web": web, "dreams": [dream]}],
        "skipped": [{"source": f"notes {XSS}.txt", "reason": "not a photo (.txt)"}],
    }
    write_page(manifest, out)
    return out


# ---------------------------------------------------------------- every page, every size


@pytest.mark.parametrize("page_name", ["index.html", "contact-sheet.html"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_sample_album_in_a_browser(visit, sample_page, page_name, size):
    v = visit((sample_page / page_name).as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    v.load_every_image()
    v.screenshot(f"sample-{page_name.split('.')[0]}-{size}")
    assert v.broken_images() == []
    assert v.errors == []
    assert v.horizontal_overflow() <= 0
    # Every picture has its size in the markup, so nothing jumps while it loads.
    unsized = "Array.from(document.images).filter(i => !i.getAttribute('width') || !i.getAttribute('height'))"
    assert v.page.evaluate(f"{unsized}.length") == 0


def test_sample_album_page_says_what_the_manifest_says(visit, sample_page):
    manifest = json.loads((sample_page / "manifest.json").read_text())
    v = visit((sample_page / "index.html").as_uri(), **DESKTOP)
    headings = v.page.locator("h2.day-heading").all_inner_texts()
    assert headings == ["Day 1 — Monday 13 June 2016", "Day 2 — Tuesday 14 June 2016",
                        "Day 3 — Wednesday 15 June 2016"]
    places = v.page.locator("figcaption.exif .place a")
    assert places.all_inner_texts() == ["Prague, Czechia"] * 4
    assert places.first.get_attribute("href").startswith("https://www.openstreetmap.org/?mlat=50.08")
    dreams = sum(len(p["dreams"]) for p in manifest["photos"])
    assert v.page.locator("figure.dream").count() == dreams
    assert v.page.locator("input.compare").count() == dreams
    # Shallow to deep under each photo.
    for article in v.page.locator("article.photo").all():
        layers = [t.removeprefix("Layer ") for t in article.locator(".dream .layer").all_inner_texts()]
        assert layers == sorted(layers)


# ---------------------------------------------------------------- before/after slider


def _split(v, frame) -> float:
    return float(frame.evaluate("f => getComputedStyle(f).getPropertyValue('--split')"))


def test_comparison_slider_by_mouse(visit, sample_page):
    v = visit((sample_page / "index.html").as_uri(), **DESKTOP)
    frame = v.page.locator(".frame.comparing").first
    frame.scroll_into_view_if_needed()
    slider = frame.locator("input.compare")
    box = slider.bounding_box()
    grip = 20  # px: the handle's radius (--grip in style.css); at 0 its centre is 20 px in
    v.page.mouse.move(box["x"] + grip, box["y"] + box["height"] / 2)
    v.page.mouse.down()
    target = box["x"] + grip + 0.75 * (box["width"] - 2 * grip)
    v.page.mouse.move(target, box["y"] + box["height"] / 2, steps=8)
    v.page.mouse.up()
    assert int(slider.input_value()) == pytest.approx(75, abs=2)
    assert _split(v, frame) == pytest.approx(0.75, abs=0.02)
    # The cut between original and dream follows the handle.
    line = frame.locator(".compare-line").bounding_box()
    assert line["x"] + line["width"] / 2 == pytest.approx(target, abs=3)
    # Dragging the handle is not a click on the picture: no full-screen view opened.
    assert v.page.locator("dialog.viewer[open]").count() == 0
    v.screenshot("slider-moved-desktop", full_page=False)
    assert v.errors == []


def test_comparison_slider_by_keyboard(visit, sample_page):
    v = visit((sample_page / "index.html").as_uri(), **DESKTOP)
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


def test_full_screen_view_by_mouse(visit, sample_page):
    v = visit((sample_page / "index.html").as_uri(), **DESKTOP)
    first = v.page.locator("figure.original a.zoom").first
    first.click()
    viewer = v.page.locator("dialog.viewer")
    assert viewer.evaluate("d => d.open")
    image = viewer.locator("img")
    assert image.get_attribute("src") == first.get_attribute("href")   # the largest copy
    v.page.wait_for_function("document.querySelector('dialog.viewer img').naturalWidth > 0")
    box = image.bounding_box()
    assert box["height"] > 500   # fills the window, not the column
    v.screenshot("full-screen-desktop", full_page=False)
    viewer.locator(".viewer-next").click()
    assert "dreams/" in image.get_attribute("src")   # the next picture: the first dream
    viewer.locator(".viewer-close").click()
    assert not viewer.evaluate("d => d.open")
    assert v.errors == []


def test_full_screen_view_by_keyboard(visit, sample_page):
    v = visit((sample_page / "index.html").as_uri(), **DESKTOP)
    first = v.page.locator("figure.original a.zoom").first
    first.focus()
    v.page.keyboard.press("Enter")
    viewer = v.page.locator("dialog.viewer")
    assert viewer.evaluate("d => d.open")
    assert v.page.evaluate("document.activeElement.className") == "viewer-close"
    src = viewer.locator("img").get_attribute("src")
    v.page.keyboard.press("ArrowRight")
    assert viewer.locator("img").get_attribute("src") != src
    v.page.keyboard.press("ArrowLeft")
    assert viewer.locator("img").get_attribute("src") == src
    v.page.keyboard.press("Escape")
    assert not viewer.evaluate("d => d.open")
    # Focus goes back where it was, so a keyboard reader does not lose their place.
    assert v.page.evaluate("document.activeElement === document.querySelector('figure.original a.zoom')")
    assert v.errors == []


# ---------------------------------------------------------------- without JavaScript


def test_without_javascript_the_page_is_plain_images(visit, sample_page):
    v = visit((sample_page / "index.html").as_uri(), java_script_enabled=False, **PHONE)
    v.load_every_image()
    assert v.broken_images() == []
    assert v.page.locator("input.compare").count() == 0
    assert v.page.locator(".js-only").first.is_hidden()       # no hints about a slider
    dreams = v.page.locator("figure.dream img")
    assert dreams.count() > 0 and dreams.first.is_visible()
    # A picture is a link to its file: the browser's own full-size view.
    link = v.page.locator("figure.dream a.zoom").first
    assert link.get_attribute("href") == dreams.first.get_attribute("src")
    assert v.horizontal_overflow() <= 0
    v.screenshot("sample-index-phone-no-js")


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
    assert caption.evaluate("c => c.children.length") == 0
    v.page.keyboard.press("Escape")
    v.page.locator("text=click me").click()       # a javascript: link in a story: inert
    assert v.page.evaluate("window.__pwned") is None
    assert v.errors == []
