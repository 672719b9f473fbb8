"""Zooming into a dream in the full-screen view, in headless Chromium (see test_browser.py).

The marked page has one photo and one dream of it, both smooth colour ramps (blue and green)
with a red square at the same spot: wherever the red is under the pointer in one picture, the
other must show red there too. The dream's full-size file (2400 px) is larger than its largest
web copy (2048 px), so the test sees when it is fetched. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import load_settings
from pipeline.manifest import AlbumInfo, DreamEntry, ExifInfo, Manifest, PhotoEntry, WeightsInfo
from test_browser import (DESKTOP, PHONE, TINY_SOURCE, TINY_SIZE, _copies, _save,  # noqa: F401
                          browser, made_page, visit)

FULL = (2400, 1600)       # the dream's full size; its web copies stop at 2048
MARK = (0.62, 0.41)       # the red square's centre, as fractions of the picture
MARK_SIDE = 0.025         # its side, as a fraction of the picture's width
DREAM_FULL = "dreams/marked-conv4_2.jpg"


def _marked(background: tuple[int, int, int]) -> Image.Image:
    """A colour ramp from black to `background` with the red square at MARK."""
    ramp = Image.linear_gradient("L").resize(FULL)
    picture = Image.merge("RGB", [ramp.point(lambda v, c=c: v * c // 255) for c in background])
    side = MARK_SIDE * FULL[0]
    x, y = MARK[0] * FULL[0], MARK[1] * FULL[1]
    picture.paste((255, 0, 0), (round(x - side / 2), round(y - side / 2),
                                round(x + side / 2), round(y + side / 2)))
    return picture


@pytest.fixture(scope="module")
def marked_page(tmp_path_factory) -> Path:
    from pipeline.post.page import write_page

    out = tmp_path_factory.mktemp("marked-page")
    photo, dream = _marked((40, 90, 255)), _marked((40, 255, 90))
    entry = PhotoEntry(
        source="marked.jpg", status="ok", sha256="cd" * 32, width=FULL[0], height=FULL[1],
        exif=ExifInfo(date="2016-06-13T09:00:00", date_source="DateTimeOriginal"),
        web=_copies(out, "photos/marked", photo),
        dreams=[DreamEntry(layer="conv4_2", status="ok", seconds=1.0, image=_save(out, DREAM_FULL, dream),
                           web=_copies(out, "dreams/marked-conv4_2", dream))])
    manifest = Manifest(
        created="2026-11-25T10:00:00+00:00", album=AlbumInfo(name="marked", title="Marked"),
        weights=WeightsInfo(source="hed", identity="hed-test", description="VGG16 (test)",
                            note="dreams edges", reason="test"),
        device="cpu", dream_size=FULL[0], settings=load_settings(), photos=[entry])
    write_page(manifest, out)
    return out


# ---------------------------------------------------------------- reading the view


def _open(v, which: str = "figure.dream a.zoom", tap: bool = False) -> None:
    link = v.page.locator(which).first
    link.tap() if tap else link.click()
    v.page.wait_for_selector(".viewer-canvas.ready")


def _files_asked(v) -> list[str]:
    return [url.rsplit("/", 1)[-1] for url in v.requests]


def _canvas(v) -> dict:
    return v.page.locator(".viewer-canvas").bounding_box()


def _mark(v) -> tuple[float, float]:
    """Where the red square's centre is on the screen now."""
    box = _canvas(v)
    return box["x"] + MARK[0] * box["width"], box["y"] + MARK[1] * box["height"]


def _level(v) -> int:
    return int(v.page.inner_text(".viewer-level").rstrip("%"))


def _colour(v, x: float, y: float) -> tuple[int, int, int]:
    """The colour on the screen at (x, y), as the reader sees it."""
    png = v.page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 2, "height": 2})
    with Image.open(io.BytesIO(png)) as shot:
        return shot.convert("RGB").getpixel((shot.width // 2, shot.height // 2))


def _red(colour) -> bool:
    r, g, b = colour
    return r > 180 and g < 100 and b < 100


def _pixel_under(v, selector: str, x: float, y: float) -> tuple[float, float]:
    """Which pixel of the picture's own file is at (x, y) of the screen, in full-size pixels."""
    box = v.page.locator(selector).bounding_box()
    return ((x - box["x"]) / box["width"] * FULL[0], (y - box["y"]) / box["height"] * FULL[1])


def _same_pixel_of_photo_and_dream(v, x: float, y: float) -> None:
    """The photo is on show over the dream at the pointer; both show the same spot."""
    v.page.wait_for_function("document.querySelector('.viewer-photo').naturalWidth > 0")
    assert v.page.locator(".viewer-photo").evaluate("i => getComputedStyle(i).opacity") == "1"
    assert _red(_colour(v, x, y))                            # the photo's red square
    dream, photo = _pixel_under(v, ".viewer-image", x, y), _pixel_under(v, ".viewer-photo", x, y)
    assert photo == pytest.approx(dream, abs=1)
    assert abs(dream[0] - MARK[0] * FULL[0]) < MARK_SIDE * FULL[0] / 2


def _watch(v) -> None:
    v.requests = []
    v.page.on("request", lambda r: v.requests.append(r.url))


# ---------------------------------------------------------------- desktop: mouse and keys


def test_zoom_pan_and_switch_to_the_photo_with_a_mouse(visit, marked_page):
    v = visit((marked_page / "index.html").as_uri(), **DESKTOP)
    _watch(v)
    _open(v)
    # Opened fitted, from the largest web copy: the full-size file is not fetched.
    assert v.page.locator(".viewer-image").get_attribute("src").endswith("-2048.jpg")
    assert DREAM_FULL.split("/")[-1] not in _files_asked(v)
    fitted = _canvas(v)
    assert _level(v) == round(100 * fitted["width"] / FULL[0]) and _level(v) < 100
    x, y = _mark(v)
    assert _red(_colour(v, x, y))

    # The wheel zooms about the pointer: the red square stays under it.
    v.page.mouse.move(x, y)
    level = _level(v)
    for _ in range(3):
        v.page.mouse.wheel(0, -120)
    v.page.wait_for_function(f"parseInt(document.querySelector('.viewer-level').textContent) > {level}")
    assert _canvas(v)["width"] > 1.3 * fitted["width"]
    assert _mark(v) == pytest.approx((x, y), abs=2)

    # A drag pans, and is no click: the view stays open.
    v.page.mouse.down()
    v.page.mouse.move(x - 200, y - 120, steps=6)
    v.page.mouse.up()
    x, y = x - 200, y - 120
    assert _mark(v) == pytest.approx((x, y), abs=2)
    assert v.page.locator("dialog.viewer").evaluate("d => d.open")
    assert _red(_colour(v, x, y))
    v.screenshot("zoom-marked-dream-desktop", full_page=False)

    # P shows the photo at the same spot and zoom; the button shows the dream again.
    box = _canvas(v)
    v.page.keyboard.press("p")
    assert _canvas(v) == box
    _same_pixel_of_photo_and_dream(v, x, y)
    v.screenshot("zoom-marked-photo-desktop", full_page=False)
    v.page.locator(".viewer-toggle").click()
    assert v.page.locator(".viewer-photo").evaluate("i => getComputedStyle(i).opacity") == "0"

    # Double-click: back to fitted, then in to 100% of the full-size file at the pointer,
    # which is only now fetched, and replaces the web copy.
    v.page.mouse.dblclick(x, y)
    assert _canvas(v) == pytest.approx(fitted, abs=1)
    x, y = _mark(v)
    v.page.mouse.dblclick(x, y)
    assert _canvas(v)["width"] == pytest.approx(FULL[0], abs=1) and _level(v) == 100
    assert _mark(v) == pytest.approx((x, y), abs=2)
    v.page.wait_for_function(f"document.querySelector('.viewer-image').naturalWidth === {FULL[0]}")
    assert v.page.locator(".viewer-image").get_attribute("src") == DREAM_FULL
    assert _files_asked(v).count(DREAM_FULL.split("/")[-1]) == 1
    assert _red(_colour(v, x, y))
    v.page.keyboard.press("p")
    _same_pixel_of_photo_and_dream(v, x, y)

    # Never past 100%: more wheel or + changes nothing; the + button says so.
    v.page.mouse.wheel(0, -500)
    v.page.keyboard.press("+")
    assert _level(v) == 100 and v.page.locator(".viewer-zoom-in").is_disabled()
    # - and 0 zoom out; a single click on the picture does not close the view, the dark does.
    v.page.keyboard.press("-")
    assert _level(v) == round(100 / 1.5)
    v.page.keyboard.press("0")
    assert _canvas(v) == pytest.approx(fitted, abs=1)
    v.page.mouse.click(*_mark(v))
    assert v.page.locator("dialog.viewer").evaluate("d => d.open")
    v.page.mouse.click(fitted["x"] / 2, fitted["y"] + 20)     # beside the picture
    assert not v.page.locator("dialog.viewer").evaluate("d => d.open")
    assert v.errors == []


def test_arrow_keys_pan_when_zoomed_and_step_when_not(visit, marked_page):
    v = visit((marked_page / "index.html").as_uri(), **DESKTOP)
    _open(v)
    v.page.keyboard.press("+")
    before = _canvas(v)
    v.page.keyboard.press("ArrowRight")            # look further right: the picture moves left
    assert _canvas(v)["x"] < before["x"]
    assert v.page.locator(".viewer-image").get_attribute("src").startswith("dreams/")
    v.page.keyboard.press("0")
    v.page.keyboard.press("ArrowRight")            # fitted: the next picture (the photo)
    v.page.wait_for_selector(".viewer-canvas.ready")
    assert v.page.locator(".viewer-image").get_attribute("src").startswith("photos/")
    assert v.page.locator(".viewer-toggle").is_hidden()     # a photo has no photo to switch to
    assert v.errors == []


def test_a_picture_smaller_than_the_window_opens_at_its_size_and_zooms_twice_as_far(visit, made_page):
    v = visit((made_page / "index.html").as_uri(), **DESKTOP)
    _open(v, f"article#photo-{TINY_SOURCE.rsplit('.', 1)[0]} figure.original a.zoom")
    assert _canvas(v)["width"] == TINY_SIZE[0] and _level(v) == 100   # not blown up to blur
    for _ in range(4):
        v.page.keyboard.press("+")
    assert _canvas(v)["width"] == pytest.approx(2 * TINY_SIZE[0], abs=1) and _level(v) == 200
    assert v.page.locator(".viewer-zoom-in").is_disabled()
    assert v.errors == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_photo_and_its_smaller_dream_open_equally_large_and_zoom_twice_the_fit(visit, made_page, size):
    """The first photo's copies go to 2048 px, its conv5_2 dream's to 1024: switching between
    them keeps the size on screen, and even the 1024 px file zooms to twice the fitted size."""
    v = visit((made_page / "index.html").as_uri(), **(DESKTOP if size == "desktop" else PHONE))
    _open(v, "figure.original a.zoom")
    v.page.wait_for_function("document.querySelector('.viewer-image').naturalWidth >= 2048")
    photo = _canvas(v)
    boxes = []
    for _ in range(2):   # the conv3_1 dream (2048 px copy), then the conv5_2 one (1024 px)
        v.page.keyboard.press("ArrowRight")
        v.page.wait_for_selector(".viewer-canvas.ready")
        boxes.append(_canvas(v))
    assert v.page.evaluate("document.querySelector('.viewer-image').naturalWidth") == 1024
    for box in boxes:
        assert box["width"] == pytest.approx(photo["width"], abs=2)
        assert box["height"] == pytest.approx(photo["height"], abs=2)
    fitted = boxes[-1]["width"]
    assert fitted > 1024 if size == "desktop" else fitted <= 375   # wider than the file on a desktop
    while v.page.locator(".viewer-zoom-in").is_enabled():
        v.page.locator(".viewer-zoom-in").click()
    assert _canvas(v)["width"] >= 2 * fitted - 2
    v.screenshot(f"zoom-made-small-dream-twice-{size}", full_page=False)
    assert v.errors == []


def test_zoom_on_camera_sized_dreams(visit, made_page):
    """Screenshots of a real-looking dream zoomed in, and its photo at the same spot."""
    v = visit((made_page / "index.html").as_uri(), **DESKTOP)
    _open(v)
    x, y = _mark(v)
    v.page.mouse.dblclick(x, y)
    v.page.wait_for_function("document.querySelector('.viewer-image').naturalWidth > 2048")
    v.screenshot("zoom-made-dream-desktop", full_page=False)
    v.page.keyboard.press("p")
    v.page.wait_for_function("document.querySelector('.viewer-photo').naturalWidth > 0")
    v.screenshot("zoom-made-photo-desktop", full_page=False)
    assert v.errors == []


# ---------------------------------------------------------------- phone: touch


def _touch(cdp, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send("Input.dispatchTouchEvent", {
        "type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})


def _drag(v, cdp, start: list[tuple[float, float]], end: list[tuple[float, float]], steps: int = 6) -> None:
    """Fingers down at `start`, moved together to `end`, lifted: a pan (one) or a pinch (two).

    They rest at `end` before they lift: fingers lifted while moving fling, and Chromium
    swallows the next tap to stop the fling (the toggle would then not switch).
    """
    _touch(cdp, "touchStart", start)
    for step in range(1, steps + 1):
        t = step / steps
        _touch(cdp, "touchMove", [(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
                                  for a, b in zip(start, end, strict=True)])
    v.page.wait_for_timeout(200)
    _touch(cdp, "touchMove", end)
    _touch(cdp, "touchEnd", [])


def test_zoom_pan_and_switch_to_the_photo_by_touch(visit, marked_page):
    v = visit((marked_page / "index.html").as_uri(), **PHONE)
    _watch(v)
    _open(v, tap=True)
    cdp = v.context.new_cdp_session(v.page)
    assert DREAM_FULL.split("/")[-1] not in _files_asked(v)
    fitted = _canvas(v)
    assert fitted["width"] == pytest.approx(375, abs=1)       # the phone's width
    x, y = _mark(v)

    # Double-tap: 100% of the full-size file, the tapped spot staying under the finger.
    v.page.touchscreen.tap(x, y)
    v.page.touchscreen.tap(x, y)
    assert _level(v) == 100 and _canvas(v)["width"] == pytest.approx(FULL[0], abs=1)
    assert _mark(v) == pytest.approx((x, y), abs=2)
    v.page.wait_for_function(f"document.querySelector('.viewer-image').naturalWidth === {FULL[0]}")

    # Pinch: fingers closing to half their spread zoom out by half, about their middle.
    _drag(v, cdp, [(x - 100, y), (x + 100, y)], [(x - 50, y), (x + 50, y)])
    assert _level(v) == pytest.approx(50, abs=1)
    assert _mark(v) == pytest.approx((x, y), abs=2)
    # Spreading them zooms in again.
    _drag(v, cdp, [(x - 40, y), (x + 40, y)], [(x - 60, y), (x + 60, y)])
    assert _level(v) == pytest.approx(75, abs=1)
    assert _mark(v) == pytest.approx((x, y), abs=2)

    # One finger pans, and is no tap: the view stays open, the red square follows the finger.
    _drag(v, cdp, [(x, y)], [(x - 80, y + 60)])
    x, y = x - 80, y + 60
    assert _mark(v) == pytest.approx((x, y), abs=2)
    assert _red(_colour(v, x, y))
    v.screenshot("zoom-marked-dream-phone", full_page=False)

    # The Photo button: the same spot at the same zoom.
    box = _canvas(v)
    v.page.locator(".viewer-toggle").tap()
    assert _canvas(v) == box
    _same_pixel_of_photo_and_dream(v, x, y)
    v.screenshot("zoom-marked-photo-phone", full_page=False)

    # The - and + buttons, for a reader who does not pinch.
    v.page.locator(".viewer-zoom-out").tap()
    assert _level(v) == pytest.approx(50, abs=1)
    v.page.locator(".viewer-zoom-in").tap()
    assert _level(v) == pytest.approx(75, abs=1)
    # A double-tap when zoomed: fitted again.
    x, y = _mark(v)
    v.page.touchscreen.tap(x, y)
    v.page.touchscreen.tap(x, y)
    assert _canvas(v) == pytest.approx(fitted, abs=1)
    assert v.page.locator("dialog.viewer").evaluate("d => d.open")
    assert v.errors == []


def test_turning_the_phone_keeps_the_zoom_and_the_spot_in_the_middle(visit, marked_page):
    v = visit((marked_page / "index.html").as_uri(), **PHONE)
    _open(v, tap=True)
    v.page.locator(".viewer-zoom-in").tap()
    stage = v.page.locator(".viewer-stage").bounding_box()
    middle = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    spot, level = _pixel_under(v, ".viewer-image", *middle), _level(v)
    v.page.set_viewport_size({"width": 812, "height": 375})
    # A frame's resize events run before its animation frames: after two, the view has refit.
    v.page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    stage = v.page.locator(".viewer-stage").bounding_box()
    middle = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    assert _level(v) == level
    assert _pixel_under(v, ".viewer-image", *middle) == pytest.approx(spot, abs=2)
    assert v.errors == []
