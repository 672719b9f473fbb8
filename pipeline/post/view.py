"""What the post says, worked out from the manifest: the view the templates render.

Everything the templates show is prepared here as plain dicts, so the templates stay free of
logic about dates, order, URLs or missing values, and index.html, contact-sheet.html and
post.md cannot drift apart in what they say. Reads only the typed manifest: no files, no torch.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime
from urllib.parse import quote, urljoin

from pipeline.config import steps_in_words
from pipeline.layers import LAYER_NAMES, depth, layer_hint, weights_row
from pipeline.manifest import MISSING_FILE, AlbumInfo, DreamEntry, Manifest, PhotoEntry, Skipped, WebImage
from pipeline.post.story import first_paragraph, story_html, story_markdown, story_plain
from pipeline.post.words import camera_words
from pipeline.privacy import TOWN_DECIMALS, coordinates
from pipeline.published import on_the_page, published
from pipeline.text import slug, without_machine_paths

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")

# Alt text is read aloud by screen readers: what and where, a short sentence, never the story.
_ALT_MAX = 100
# What a shared link shows under its title (og:description): a line or two of the intro.
_SHARE_DESCRIPTION_MAX = 200
# A summary (blog lists, link previews) is cut where search engines cut a description.
_SUMMARY_MAX = 160
# Error strings can be whole tracebacks; the manifest keeps them in full.
_REASON_MAX = 500
# How wide photos and dreams are drawn: the full column (900 px less padding), or the screen.
COLUMN_WIDTH = 860
COLUMN_SIZES = f"(max-width: 900px) calc(100vw - 2rem), {COLUMN_WIDTH}px"
# The lead photo at the top of the post is a banner this much wider than tall (the page hands
# it to style.css as --lead-ratio, which crops it so on a desktop; a phone shows it less wide).
LEAD_RATIO = 2.2
# A pair drawn narrower than this is small (an old camera's thumbnail): its slider's handle
# shrinks to arrows, so it does not cover the picture.
SMALL_PAIR = 320
# What a blog column needs (a ~500 px column on a 2x screen): post.md uses the smallest web copy
# at least this long, and the post opens with a photo that has one when it can (see _lead).
BLOG_LONG_SIDE = 1000
# What a <source> says its files are, by the format the manifest names: browsers skip the
# types they cannot show.
_MIME_TYPES = {"avif": "image/avif"}
# A trip's longest gap between two days with photos: an album with a longer one (older photos,
# a camera with a wrong clock) is headed by dates, not by "Day 2489".
TRIP_GAP_DAYS = 60
# Why a photo or dream is not on the page, when it has no error of its own.
_STATUS_REASONS = {"ok": "no web copy was made", "missing": MISSING_FILE}


# ---------------------------------------------------------------- URLs and text


def url_path(path: str) -> str:
    """Percent-encode each segment of a manifest path (relative, forward slashes).

    Encoding every segment with safe="" turns spaces, quotes, '#', '%', '?', ':' and
    non-ASCII letters into %XX, so a file name can never end the URL early or read
    as a scheme; the '/' between segments is kept.
    """
    path = str(path).replace("\\", "/")
    if path.startswith("/"):
        raise ValueError(f"manifest paths must be relative to the output dir: {path!r}")
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


def _one_line(text: str, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary, for alt text and reasons."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + "…"


def _reason(text: str) -> str:
    return _one_line(without_machine_paths(text), _REASON_MAX)


def _alt_text(story: str | None, where: dict | None, when: datetime | None) -> str:
    """Alt text: what the photo shows and where, short: the story's first sentence in plain
    words, then the place when the post names one; with no story, a photo of the place, or of
    the day: never its file name (a camera's `DSC_0087` says nothing to a reader)."""
    place = where["name"] if where and where["name"] else None
    what = _what(story)
    if what:
        return f"{what} — {place}" if place else what
    if place:
        return f"A photo taken in {place}"
    return f"A photo taken on {human_day(when)}" if when else "A photo"


def _what(story: str | None) -> str | None:
    first = first_paragraph(story)
    plain = " ".join(story_plain(first).split()) if first else ""
    if not plain:
        return None
    sentence = re.split(r"(?<=[.!?…])\s", plain, maxsplit=1)[0]
    return _one_line(sentence, _ALT_MAX).rstrip(".")


def _dream_alt(layer: str, hint: str) -> str:
    """A dream's alt text: what it is (the photo above, dreamed) and how that layer's dreams
    look, not the photo's words again (a screen reader would read them once per dream)."""
    return f"The same photo dreamed at layer {layer}" + (f": {hint}" if hint else "")


def _unique_anchors(sources: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    anchors = []
    for source in sources:
        base = "photo-" + slug(source.rsplit(".", 1)[0])
        seen[base] = seen.get(base, 0) + 1
        anchors.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return anchors


def counted(n: int, noun: str) -> str:
    """'1 photo', '4 photos'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------- dates and places


def parse_datetime(value: str | None) -> datetime | None:
    """ISO 8601 (what the pipeline writes) or raw EXIF "YYYY:MM:DD HH:MM:SS"."""
    if not value:
        return None
    text = value.strip()
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text)
    with contextlib.suppress(ValueError):
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    return None


def _wall_clock(dt: datetime) -> datetime:
    # Camera clocks are local time; comparing wall-clock values also avoids the
    # TypeError of mixing naive and offset-aware datetimes.
    return dt.replace(tzinfo=None)


def human_day(dt: date) -> str:
    """'Monday 13 June 2016' (fixed English names: the locale must not change the page)."""
    return f"{_DAYS[dt.weekday()]} {dt.day} {_MONTHS[dt.month - 1]} {dt.year}"


def human_datetime(dt: datetime) -> str:
    """'Monday 13 June 2016, 10:22'."""
    return f"{human_day(dt)}, {dt.hour:02d}:{dt.minute:02d}"


def _camera_date(photo: PhotoEntry) -> str | None:
    # A file's modification time (what ingest falls back to) says when it was copied, not taken.
    return photo.exif.camera_date if photo.exif else None


# How close OpenStreetMap opens on a place: the spot (a street), or the whole town.
_OSM_SPOT_ZOOM, _OSM_TOWN_ZOOM = 17, 12


def _degrees(lat: float, lon: float, decimals: int) -> str:
    return (f"{abs(lat):.{decimals}f}° {'N' if lat >= 0 else 'S'}, "
            f"{abs(lon):.{decimals}f}° {'E' if lon >= 0 else 'W'}")


def where_taken(photo: PhotoEntry, location: str) -> dict | None:
    """Where the post says a photo was taken, as `privacy.location` allows: the place's name,
    a position for the map and an OpenStreetMap link; None when it says nothing.

    `exact`: the spot (the camera's position), named by its town, or in degrees far from any.
    `town`: the town's own position, never the photo's (even if an older manifest holds it).
    """
    if location == "none":
        return None
    place = photo.place
    name = ", ".join(part for part in (place.name, place.country) if part) if place else ""
    spot = coordinates(photo.exif.gps if photo.exif else None) if location == "exact" else None
    if spot is not None:
        lat, lon = spot
        la, lo = f"{lat:.5f}", f"{lon:.5f}"
        return {"name": name or _degrees(lat, lon, 4), "lat": lat, "lon": lon, "exact": True,
                "title": f"{_degrees(lat, lon, 4)} on OpenStreetMap",
                "url": f"https://www.openstreetmap.org/?mlat={la}&mlon={lo}#map={_OSM_SPOT_ZOOM}/{la}/{lo}"}
    if not place:
        return None
    town = coordinates(place)
    if town is None:  # named by an older release, which kept no position of the town
        return {"name": name, "lat": None, "lon": None, "exact": False, "title": None, "url": None}
    lat, lon = (round(value, TOWN_DECIMALS) for value in town)
    la, lo = f"{lat:.{TOWN_DECIMALS}f}", f"{lon:.{TOWN_DECIMALS}f}"
    return {"name": name, "lat": lat, "lon": lon, "exact": False, "title": f"{name} on OpenStreetMap",
            "url": f"https://www.openstreetmap.org/#map={_OSM_TOWN_ZOOM}/{la}/{lo}"}


def _caption_parts(photo: PhotoEntry, when: datetime | None, where: dict | None) -> list[dict]:
    """The small line under a photo: date, camera (as people say it), place; each part
    optional. Never the file name: the reader's post is no file list (the contact sheet is)."""
    parts = []
    if when is not None:
        parts.append({"kind": "date", "text": human_datetime(when), "datetime": when.isoformat()})
    elif _camera_date(photo):
        # Unparseable date: show it as written rather than dropping what the camera said.
        parts.append({"kind": "date", "text": _camera_date(photo)})
    camera = camera_words(photo.exif.camera if photo.exif else None)
    if camera:
        parts.append({"kind": "camera", "text": camera})
    if where:
        parts.append({"kind": "place", "text": where["name"], "url": where["url"], "title": where["title"]})
    return [{"datetime": None, "url": None, "title": None, **part} for part in parts]


# ---------------------------------------------------------------- pictures


def _image(web: WebImage) -> dict:
    return {"src": url_path(web.path), "width": web.width, "height": web.height}


def _srcset(web: list[WebImage]) -> str | None:
    # One copy needs no choosing; its own size then stays the picture's natural size.
    return ", ".join(f"{url_path(w.path)} {w.width}w" for w in web) if len(web) > 1 else None


def _sources(web: list[WebImage], sizes: str | None = COLUMN_SIZES) -> list[dict]:
    """The picture's <source>s, offered before its JPEG: one per other format its copies have
    (a manifest without twins has none, and its page offers the JPEG alone)."""
    sources = []
    for fmt in dict.fromkeys(fmt for w in web for fmt in w.alternates):
        having = [w for w in web if fmt in w.alternates]
        many = len(web) > 1  # as for the JPEG: one copy needs no choosing, nor widths
        srcset = ", ".join(url_path(w.alternates[fmt]) + (f" {w.width}w" if many else "") for w in having)
        sources.append({"format": fmt, "type": _MIME_TYPES.get(fmt, f"image/{fmt}"), "srcset": srcset,
                        "sizes": sizes if many else None})
    return sources


def _picture(web: list[WebImage]) -> dict:
    """A picture offered at its web sizes (small to large), and the copy each place uses.

    `width`/`height` are the largest copy's; a photo and its dreams are then drawn in one box
    (see _drawn_in): with CSS `max-width: 100%` the page never draws a pair larger than its
    largest pixels (a 100 px thumbnail stays 100 px).
    """
    return {**_image(web[-1]),
            "srcset": _srcset(web),
            "sizes": COLUMN_SIZES,
            "sources": _sources(web),
            "zoom": url_path(web[-1].path),   # the full-screen view: the largest copy
            # the contact sheet: the smallest
            "thumb": {**_image(web[0]), "sources": _sources(web[:1])},
            # post.md: Markdown has no <picture>, so a JPEG, which every reader's browser shows
            "post": _image(next((w for w in web if w.long_side >= BLOG_LONG_SIDE), web[-1]))}


def _before(photo_web: list[WebImage], box: dict) -> dict:
    """The photo a dream is compared with: the smallest copy at least as wide as the box
    (the fallback), and every copy so the browser picks as it does for the dream."""
    wide_enough = [w for w in photo_web if w.width >= box["width"]]
    fallback = wide_enough[0] if wide_enough else photo_web[-1]
    return {**_image(fallback), "srcset": _srcset(photo_web), "sources": _sources(photo_web, box["sizes"])}


def _pair_box(photo_web: list[WebImage], dreams: list[DreamEntry]) -> dict:
    """The box a photo and each of its dreams are drawn in, whatever their files' sizes (a
    2048 px photo copy beside a 1024 px dream): as wide as the widest largest copy among them,
    at the photo's aspect ratio. So a pair lines up on the page, and switching between them in
    the full-screen view (`zoom_width`: the largest file of the pair) keeps the same size."""
    largest = [photo_web[-1], *(d.web[-1] for d in dreams)]
    width = max(w.width for w in largest)
    zoom_width = max([width, *((d.image or d.web[-1]).width for d in dreams)])
    height = max(1, round(width * photo_web[-1].height / photo_web[-1].width))
    return {"width": width, "height": height, "aspect": f"{width / height:.4f}",   # style.css: seen whole
            "sizes": _sizes(width), "small": width < SMALL_PAIR, "zoom_width": zoom_width}


def _sizes(width: int) -> str:
    """What `sizes` says of a picture drawn at most `width` px wide: the column, or less."""
    if width >= COLUMN_WIDTH:
        return COLUMN_SIZES
    return f"(max-width: {width + 40}px) calc(100vw - 2rem), {width}px"


def _drawn_in(picture: dict, web: list[WebImage], box: dict) -> dict:
    """The picture drawn in its pair's box: its size in the markup is the box's."""
    return {**picture, "width": box["width"], "height": box["height"], "sizes": box["sizes"],
            "sources": _sources(web, box["sizes"]), "box": box}


def _banner(web: list[WebImage]) -> dict:
    """The photo as the banner at the top of the post, when it leads: the full column wide,
    cropped to LEAD_RATIO (the size in the markup is the banner's, whatever the photo's).

    `landscape` and `pixels_across` (how wide the largest copy is once cropped to LEAD_RATIO)
    are what _lead weighs: a portrait photo keeps only a strip, and a small one is blurred."""
    largest = web[-1]
    return {**_image(largest), "width": COLUMN_WIDTH, "height": round(COLUMN_WIDTH / LEAD_RATIO),
            "ratio": LEAD_RATIO, "srcset": _srcset(web), "sizes": COLUMN_SIZES, "sources": _sources(web),
            "landscape": largest.width > largest.height,
            "pixels_across": min(largest.width, round(largest.height * LEAD_RATIO))}


# ---------------------------------------------------------------- photos and dreams


def _layer_order(layer: str) -> int:
    # Unknown layer names (a newer config?) sort after the known ones, not crash the page.
    return depth(layer) if layer in LAYER_NAMES else len(LAYER_NAMES)


def _hint(layer: str, weights_source: str) -> str:
    return layer_hint(layer, weights_source) if layer in LAYER_NAMES else ""


def _dream_view(dream: DreamEntry, photo_web: list[WebImage], anchor: str,
                weights_source: str, box: dict) -> dict:
    full = dream.image or dream.web[-1]
    return {**_drawn_in(_picture(dream.web), dream.web, box),
            "layer": dream.layer,
            "hint": _hint(dream.layer, weights_source),
            # "--": slugs never hold two dashes, so no photo's anchor can clash.
            "anchor": f"{anchor}--{slug(dream.layer)}",
            "alt": _dream_alt(dream.layer, _hint(dream.layer, weights_source)),
            # The dream at its dream size: the "full size" link, which may be larger than any copy.
            # A preview's is its own small file, and says so.
            "full": {**_image(full), "label": f"{'preview' if dream.preview else 'full size'} "
                                              f"({full.width} × {full.height} px)"},
            "preview": dream.preview,
            "before": _before(photo_web, box)}


def _dream_views(photo: PhotoEntry, anchor: str,
                 weights_source: str) -> tuple[list, list, dict]:
    """Split a photo's dreams into (shown, not dreamed), both shallow to deep, and the box
    the photo and the shown ones are drawn in."""
    ordered = sorted(photo.dreams, key=lambda d: _layer_order(d.layer))
    box = _pair_box(photo.web, [d for d in ordered if d.ok and d.web])
    shown, missing = [], []
    for dream in ordered:
        if dream.ok and dream.web:
            shown.append(_dream_view(dream, photo.web, anchor, weights_source, box))
        else:
            reason = dream.error or _STATUS_REASONS.get(dream.status, f"status: {dream.status}")
            missing.append({"layer": dream.layer, "reason": _reason(reason)})
    return shown, missing, box


def _loop_view(photo: PhotoEntry, anchor: str, weights_source: str, box: dict) -> dict | None:
    """The photo's dream loop (album.yaml `loop:`), drawn in its pair's box as its dreams are:
    the video for the page, its dream on that layer as the poster (the still shown before it
    plays, and to a reader who asks for reduced motion), the animation for post.md. None
    without a finished loop and a shown dream of its layer."""
    loop = photo.loop
    dream = next((d for d in photo.dreams if loop and d.layer == loop.layer and d.ok and d.web), None)
    if dream is None or not loop.ok or loop.video is None or loop.animation is None:
        return None
    hint = _hint(loop.layer, weights_source)
    poster = next((web for web in dream.web if web.width >= box["width"]), dream.web[-1])
    return {"video": url_path(loop.video.path), "animation": _image(loop.animation),
            "poster": url_path(poster.path), "width": box["width"], "height": box["height"],
            "layer": loop.layer, "hint": hint, "anchor": f"{anchor}--loop",
            "seconds": _seconds(loop.frames / max(loop.fps, 1)),
            # as a dream's alt (_dream_alt): the photo above, dreamed; not its words again
            "alt": f"The same photo dreamed at layer {loop.layer}, zooming in and dreaming itself deeper, in a loop"}


def _seconds(value: float) -> str:
    """'4', '6.7', '80': a loop's length for its caption (never '1.2e+02')."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _guide_view(photo: PhotoEntry) -> dict | None:
    """The image the photo was dreamed toward: its smallest copy as a thumbnail, linked to its largest."""
    guide = photo.guide
    if guide is None or not guide.web or not any(dream.ok for dream in photo.dreams):
        return None
    # Said without its file name (a reader's post names no files): the thumbnail shows it.
    return {"name": guide.name, "thumb": _image(guide.web[0]), "href": url_path(guide.web[-1].path),
            "label": "another picture", "alt": "The picture these dreams were guided toward"}


# CommonMark lets any ASCII punctuation be escaped: a file's caption is text, not Markdown.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _story(photo: PhotoEntry) -> str | None:
    """The photo's story (a sidecar's, else album.yaml's: pipeline/ingest/album.py), else the
    caption its file carries (read_caption; gone unless `privacy.file_captions`), as text."""
    if photo.story and photo.story.strip():
        return photo.story
    caption = photo.exif.caption if photo.exif else None
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", caption) if caption else None


def _photo_view(photo: PhotoEntry, anchor: str, weights_source: str, location: str) -> dict:
    where = where_taken(photo, location)
    when = parse_datetime(_camera_date(photo))   # None: undated (or dated by its file)
    story = _story(photo)
    alt = _alt_text(story, where, when)
    dreams, missing, box = _dream_views(photo, anchor, weights_source)
    return {
        **_drawn_in(_picture(photo.web), photo.web, box),
        "anchor": anchor,
        "source": photo.source,
        "story_html": story_html(story),
        "story_md": story_markdown(story),
        "alt": alt,
        "banner": _banner(photo.web),
        "caption": _caption_parts(photo, when, where),
        "where": where,
        "when": when,
        "dreams": dreams,
        "missing": missing,
        "guide": _guide_view(photo),
        "loop": _loop_view(photo, anchor, weights_source, box),
    }


def _taken_order(view: dict) -> tuple:
    """The order taken: by date (undated ones last), then by file name."""
    when = view["when"]
    return (when is None, _wall_clock(when) if when else datetime.min, view["source"])


def _lead(views: list[dict], chosen: str | None) -> dict | None:
    """The photo the post opens with: the page's banner, a shared link's picture and post.md's
    cover (the one place that says which; `views` in the order taken).

    The photo album.yaml names (`cover:`); else the first photo taken that is landscape and
    big enough for a blog's header (BLOG_LONG_SIDE across once cropped to the banner): the
    banner crops to LEAD_RATIO, which leaves a strip of a portrait photo; else the one that
    makes the widest banner, the first taken of equals: a landscape photo wins over a portrait
    one as long, and a thumbnail never wins over a photo."""
    named = [v for v in views if v["source"] == chosen]
    if named:
        return named[0]
    wide = [v for v in views if v["banner"]["landscape"] and v["banner"]["pixels_across"] >= BLOG_LONG_SIDE]
    if wide:
        return wide[0]
    return max(views, key=lambda v: v["banner"]["pixels_across"], default=None)


def _cover(lead: dict | None) -> dict | None:
    """post.md's cover: the lead photo at the size post.md shows it."""
    return {**lead["post"], "alt": lead["alt"]} if lead else None


def _summary(intro: str | None) -> str | None:
    """The post in a line or two, for blog lists and link previews: the intro's first paragraph."""
    first = first_paragraph(intro)
    return _one_line(story_plain(first), _SUMMARY_MAX) if first and story_plain(first).strip() else None


def _camera_dates(photos: list[PhotoEntry]) -> list[datetime]:
    return [when for photo in photos if (when := parse_datetime(_camera_date(photo))) is not None]


def _post_date(album_date: str | None, dates: list[datetime], created: datetime | None) -> date | datetime | None:
    """The date a blog files the post under: album.yaml's `date:`, else the trip's last day
    (a post is written after the trip; with every photo hidden, still the trip's: a post must
    not move to the day of each run), else the day of the run (an album without a date)."""
    chosen = parse_datetime(album_date)
    if chosen is not None:
        return chosen.date() if len(album_date.strip()) == 10 else chosen  # a date alone stays one
    if dates:
        return _wall_clock(max(dates, key=_wall_clock)).date()
    return created.date() if created else None


# ---------------------------------------------------------------- days


def _km_by_day(manifest: Manifest) -> dict[date, float]:
    """How far each day went, by the album's GPS tracks (none with `privacy.location: none`)."""
    if manifest.tracks is None or not manifest.settings.privacy.places:
        return {}
    return {date.fromisoformat(day.date): day.km for day in manifest.tracks.days if day.km > 0}


def _day_groups(views: list[dict], km: dict[date, float] | None = None) -> list[dict]:
    """Photos grouped by the day they were taken: 'Day 2 — Tuesday 14 June 2016', with how far
    the day went where a GPS track says: 'Day 2 — Thursday 2 May 2024 · 14.2 km'.

    Days count from the trip's first day, so a day without photos still counts. An album that
    is no single trip (a gap of more than TRIP_GAP_DAYS between two days with photos: older
    photos, or a camera with a wrong clock) is headed by dates instead: 'Monday 13 June 2016'.
    Undated photos come last, under 'More photos' when there were days before them.
    """
    days = sorted({_wall_clock(v["when"]).date() for v in views if v["when"] is not None})
    first_day = days[0] if days else None
    one_trip = all((later - earlier).days <= TRIP_GAP_DAYS for earlier, later in zip(days, days[1:], strict=False))
    groups: list[dict] = []
    for view in views:
        day = _wall_clock(view["when"]).date() if view["when"] else None
        if not groups or groups[-1]["date"] != day:
            groups.append(_day_group(day, first_day if one_trip else None, bool(days)))
        groups[-1]["photos"].append(view)
    for group in groups:   # the places of the day, in the order visited, each once
        group["places"] = list(dict.fromkeys(v["where"]["name"] for v in group["photos"]
                                             if v["where"] and v["where"]["name"]))
        if group["heading"] and (km or {}).get(group["date"]):
            group["heading"] += f" · {km[group['date']]:.1f} km"
    return groups


def _day_group(day: date | None, first_day: date | None, any_dated: bool) -> dict:
    """A day's heading, anchor and table-of-contents label; counted from `first_day` if given."""
    group = {"date": day, "photos": []}
    if day is None:
        heading = "More photos" if any_dated else None
        return {**group, "heading": heading, "label": heading, "anchor": "more-photos"}
    if first_day is None:
        return {**group, "heading": human_day(day), "anchor": f"day-{day.isoformat()}",
                "label": f"{day.day} {_MONTHS[day.month - 1]} {day.year}"}
    number = (day - first_day).days + 1
    return {**group, "heading": f"Day {number} — {human_day(day)}", "anchor": f"day-{number}",
            "label": f"Day {number}"}


def _dateline(dates: list[datetime]) -> str | None:
    """The trip's span under the title, as short as it can be said.

    'Monday 13 June 2016', '13–15 June 2016', '28 June – 2 July 2016',
    '30 December 2016 – 2 January 2017'.
    """
    if not dates:
        return None
    first, last = min(dates, key=_wall_clock), max(dates, key=_wall_clock)
    if first.date() == last.date():
        return human_day(first)
    end = f"{last.day} {_MONTHS[last.month - 1]} {last.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{end}"
    if first.year == last.year:
        return f"{first.day} {_MONTHS[first.month - 1]} – {end}"
    return f"{first.day} {_MONTHS[first.month - 1]} {first.year} – {end}"


# ---------------------------------------------------------------- contact sheet


def _contact_cell(view: dict, layer: str) -> dict:
    """One photo on one layer: its dream, or why there is none (failed, or not asked for)."""
    dream = next((d for d in view["dreams"] if d["layer"] == layer), None)
    return {"dream": dream, "failed": dream is None and any(m["layer"] == layer for m in view["missing"])}


def _thumb_box(view: dict) -> dict:
    """The box a row's thumbnails are drawn in, as on the post (see _pair_box): the widest
    smallest copy, at the photo's aspect ratio."""
    width = max([view["thumb"]["width"], *(d["thumb"]["width"] for d in view["dreams"])])
    return {"width": width, "height": max(1, round(width * view["thumb"]["height"] / view["thumb"]["width"]))}


def _contact_sheet(views: list[dict], weights_source: str) -> dict:
    """Every photo x layer as a grid: a column per layer any photo was dreamed on or tried."""
    layers = sorted({d["layer"] for v in views for d in v["dreams"] + v["missing"]},
                    key=_layer_order)
    rows = [{"photo": v, "cells": [_contact_cell(v, layer) for layer in layers], "box": _thumb_box(v)}
            for v in views]
    return {"layers": [{"name": layer, "hint": _hint(layer, weights_source)} for layer in layers],
            "rows": rows,
            "layers_counted": counted(len(layers), "layer")}


# ---------------------------------------------------------------- what went wrong, and the footer


def _failure_views(photos: list[PhotoEntry], views_by_index: dict) -> list[dict]:
    """Everything that was not dreamed, in manifest order: whole photos and single layers."""
    failures = []
    for i, photo in enumerate(photos):
        view = views_by_index.get(i)
        if view is None:
            reason = photo.error or _STATUS_REASONS.get(photo.status, f"status: {photo.status}")
            failures.append({"source": photo.source, "layer": None, "anchor": None,
                             "reason": _reason(reason)})
            continue
        failures += [{"source": photo.source, "layer": m["layer"], "anchor": view["anchor"],
                      "reason": m["reason"]} for m in view["missing"]]
    return failures


def _not_shown(photos: int, dreams: int) -> str | None:
    """The post's one neutral line about failures: how many pictures are missing, not why."""
    parts = [counted(n, noun) for n, noun in ((photos, "photo"), (dreams, "dream")) if n]
    if not parts:
        return None
    return f"{' and '.join(parts)} {'is' if photos + dreams == 1 else 'are'} not shown here."


def _skipped_view(skipped: Skipped) -> dict:
    """A file in the album that is not on the page (notes.txt, a second copy): said quietly."""
    reason = f"the same photo as {skipped.duplicate_of}" if skipped.duplicate_of else skipped.reason
    return {"source": skipped.source, "reason": _reason(reason)}


def _sentence_body(text: str | None) -> str | None:
    # The templates end these with a full stop of their own.
    body = without_machine_paths(text or "").strip().rstrip(".")
    return body or None


def _weights_view(manifest: Manifest) -> dict:
    """The network, for the reader (`words`: what it was trained to see) and for the traveller's
    working view (`description`: which weights, as manifest.json records them)."""
    weights = manifest.weights
    return {"source": weights.source,
            "words": weights_row(weights.source).in_words,
            "description": without_machine_paths(weights.description or weights.source),
            "note": _sentence_body(weights.note)}


def _recipe(manifest: Manifest) -> list[dict]:
    """How the dreams were made, as label/value pairs; a value set by hand over the strength
    preset says so, so "strength classic" never stands beside numbers classic does not use."""
    dream = manifest.settings.dream
    params = dream.params()
    by_hand = set(dream.set_by_hand)
    size = f"{manifest.dream_size} px" if manifest.dream_size else "each photo's own size"
    values = {"layers": ", ".join(manifest.settings.layers), "strength": dream.strength,
              **params.as_dict(),
              "steps": steps_in_words(params.steps),
              "octaves": params.octaves or _auto_octaves(manifest.octaves, manifest.dream_size),
              "precision": manifest.precision or params.precision,   # what "auto" resolved to
              "dream size": size}
    return [{"label": key.replace("_", " "),
             "value": f"{value} (set by hand)" if key in by_hand else str(value)}
            for key, value in values.items()]


def _auto_octaves(octaves: int | None, dream_size: int | None) -> str:
    """`octaves: auto` in words: how many the run gave a photo of the dream size (the record)."""
    if octaves is None or dream_size is None:
        return "auto (by each photo's size)"
    return f"{octaves} at {dream_size} px (auto: fewer for smaller photos)"


def _device_words(device: str | None) -> str | None:
    """'cpu' -> 'a CPU', 'cuda:1' -> 'a GPU', 'mps' -> 'an Apple GPU', for the reader of the post."""
    if not device:
        return None
    kind = {"cuda": "a GPU", "mps": "an Apple GPU", "cpu": "a CPU"}.get(device.split()[0].split(":")[0],
                                                                      without_machine_paths(device))
    return f"{kind} of a Dask cluster" if "Dask" in device else kind


# ---------------------------------------------------------------- sharing


def _share(album: AlbumInfo, lead: dict | None, photos: int) -> dict:
    """What a link to the post shows where it is shared (Open Graph, Twitter cards): the title,
    a line of the intro and the lead photo, at an absolute address when album.yaml gives the
    post's `site_url` (social sites ignore a relative og:image)."""
    first = first_paragraph(album.intro)
    description = _one_line(story_plain(first), _SHARE_DESCRIPTION_MAX) if first else ""
    base = album.site_url.rstrip("/") + "/" if album.site_url else None
    image = lead["post"] if lead else None
    return {"title": album.title or album.name,
            "description": description or f"{counted(photos, 'photo')} and their DeepDreams.",
            "url": base,
            "image": {**image, "url": urljoin(base, image["src"]) if base else image["src"],
                      "alt": lead["alt"]} if image else None}


# ---------------------------------------------------------------- the view


def build_view(manifest: Manifest) -> dict:
    """Everything the templates need, computed once from what the manifest publishes
    (pipeline/published.py: no photo album.yaml hides, nor anything only it feeds)."""
    trip_days = _camera_dates(manifest.photos)   # the post's date when every photo is hidden
    manifest = published(manifest).manifest
    album, photos = manifest.album, manifest.photos
    weights_source = manifest.weights.source
    shown = [i for i, photo in enumerate(photos) if on_the_page(photo)]
    anchors = _unique_anchors([photos[i].source for i in shown])
    location = manifest.settings.privacy.location
    views_by_index = {i: _photo_view(photos[i], anchor, weights_source, location)
                      for i, anchor in zip(shown, anchors, strict=True)}
    in_post = views = sorted(views_by_index.values(), key=_taken_order)
    lead = _lead(in_post, album.cover)
    dates = [v["when"] for v in in_post if v["when"] is not None]
    created = parse_datetime(manifest.created)

    return {
        "title": album.title or album.name,
        "album_name": album.name,
        "dateline": _dateline(dates),
        "first_date": dates[0] if dates else None,
        "post_date": _post_date(album.date, dates or (trip_days if not in_post else []), created),
        "intro_html": story_html(album.intro),
        "intro_md": story_markdown(album.intro),
        "summary": _summary(album.intro),
        "outro_html": story_html(album.outro),
        "outro_md": story_markdown(album.outro),
        "days": _day_groups(in_post, _km_by_day(manifest)),
        "photos": in_post,
        "lead": lead,
        "share": _share(album, lead, len(in_post)),
        "cover": _cover(lead),
        "contact": _contact_sheet(views, weights_source),
        # Failures are the author's business: the contact sheet lists them with what to do,
        # the post says only `not_shown`.
        "failures": _failure_views(photos, views_by_index),
        "next_step": manifest.next_step,
        "not_shown": _not_shown(len(photos) - len(views), sum(len(v["missing"]) for v in in_post)),
        "skipped": [_skipped_view(s) for s in manifest.skipped],
        "photos_counted": counted(len(in_post), "photo"),   # as `blog` counts them (on_the_page)
        "photos_not_shown": len(photos) - len(in_post),    # listed on the contact sheet, with why
        "dreams_counted": counted(sum(len(v["dreams"]) for v in in_post), "dream"),
        "previews": sum(d["preview"] for v in in_post for d in v["dreams"]),
        "weights": _weights_view(manifest),
        "recipe": _recipe(manifest),
        "device": _device_words(manifest.device),
        "created_at": created,
        "created": human_datetime(created) if created else manifest.created,
        "version": manifest.dreamtrip_version,
    }
