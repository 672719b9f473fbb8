"""What the post says, worked out from the manifest: the view the templates render.

Everything the templates show is prepared here as plain dicts, so the templates stay free of
logic about dates, order, URLs or missing values, and index.html, contact-sheet.html and
post.md cannot drift apart in what they say. Reads only the manifest: no files, no torch.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import datetime
from urllib.parse import quote

from pipeline.exif import FILE_MTIME
from pipeline.layers import LAYER_NAMES, depth, layer_hint
from pipeline.places import coordinates
from pipeline.story import first_paragraph, story_html, story_markdown, story_plain

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")

# Alt text is read aloud by screen readers: one sentence or so, not a whole story.
_ALT_MAX = 150
# Error strings can be whole tracebacks; the manifest keeps them in full.
_REASON_MAX = 500
# How wide the original is drawn: the full text column (900 px less padding), or the screen.
ORIGINAL_SIZES = "(max-width: 900px) calc(100vw - 2rem), 860px"


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


def _one_line(text, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary, for alt text and reasons."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + "…"


def _file_name(source: str) -> str:
    return str(source).replace("\\", "/").rsplit("/", 1)[-1]


def _alt_text(photo: dict) -> str:
    """Alt text: the story's first paragraph in plain words, else the file name read aloud."""
    first = first_paragraph(photo.get("story"))
    if first and story_plain(first).strip():
        return _one_line(story_plain(first), _ALT_MAX)
    # "IMG_0042-old_town.jpg" -> "IMG 0042 old town": a file name, but readable aloud.
    stem = _file_name(photo.get("source") or "photo").rsplit(".", 1)[0]
    return " ".join(re.split(r"[-_\s]+", stem)).strip() or "photo"


def _slug(text: str) -> str:
    """'day 1/Škoda #2.jpg' -> 'day-1-skoda-2': for anchors that survive being shared."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "photo"


def _unique_anchors(sources: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    anchors = []
    for source in sources:
        base = "photo-" + _slug(source.rsplit(".", 1)[0])
        seen[base] = seen.get(base, 0) + 1
        anchors.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return anchors


# ---------------------------------------------------------------- dates and places


def parse_datetime(value) -> datetime | None:
    """ISO 8601 (what the pipeline writes) or raw EXIF "YYYY:MM:DD HH:MM:SS"."""
    if not value:
        return None
    text = str(value).strip()
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text)
    with contextlib.suppress(ValueError):
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    return None


def _wall_clock(dt: datetime) -> datetime:
    # Camera clocks are local time; comparing wall-clock values also avoids the
    # TypeError of mixing naive and offset-aware datetimes.
    return dt.replace(tzinfo=None)


def human_day(dt: datetime) -> str:
    """'Monday 13 June 2016' (fixed English names: the locale must not change the page)."""
    return f"{_DAYS[dt.weekday()]} {dt.day} {_MONTHS[dt.month - 1]} {dt.year}"


def human_datetime(dt: datetime) -> str:
    """'Monday 13 June 2016, 10:22'."""
    return f"{human_day(dt)}, {dt.hour:02d}:{dt.minute:02d}"


def _place_view(photo: dict) -> dict | None:
    """'Prague, Czechia' (or the coordinates, away from any town) with an OpenStreetMap link."""
    position = coordinates((photo.get("exif") or {}).get("gps"))
    if position is None:
        return None
    lat, lon = position
    degrees = (f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, "
               f"{abs(lon):.4f}° {'E' if lon >= 0 else 'W'}")
    place = photo.get("place") if isinstance(photo.get("place"), dict) else {}
    name = ", ".join(str(place[k]) for k in ("name", "country") if place.get(k))
    la, lo = f"{lat:.5f}", f"{lon:.5f}"
    return {"text": name or degrees, "coordinates": degrees,
            "url": f"https://www.openstreetmap.org/?mlat={la}&mlon={lo}#map=17/{la}/{lo}"}


def _caption_parts(photo: dict, when: datetime | None) -> list[dict]:
    """The small line under a photo: date, camera, place, file name; each part optional."""
    exif = photo.get("exif") or {}
    parts = []
    if when is not None:
        parts.append({"kind": "date", "text": human_datetime(when), "datetime": when.isoformat()})
    elif exif.get("date") and exif.get("date_source") != FILE_MTIME:
        # Unparseable date: show it as written rather than dropping what the camera said.
        parts.append({"kind": "date", "text": str(exif["date"])})
    if exif.get("camera"):
        parts.append({"kind": "camera", "text": str(exif["camera"])})
    place = _place_view(photo)
    if place:
        parts.append({"kind": "place", "text": place["text"], "url": place["url"],
                      "title": f"{place['coordinates']} on OpenStreetMap"})
    parts.append({"kind": "file", "text": str(photo.get("source") or "")})
    return [{"datetime": None, "url": None, "title": None, **part} for part in parts]


# ---------------------------------------------------------------- photos and dreams


def _layer_order(layer: str) -> int:
    # Unknown layer names (a newer config?) sort after the known ones, not crash the page.
    return depth(layer) if layer in LAYER_NAMES else len(LAYER_NAMES)


def _hint(layer: str, weights_source: str) -> str:
    return layer_hint(layer, weights_source) if layer in LAYER_NAMES else ""


def _is_shown(photo: dict) -> bool:
    return photo.get("status") == "ok" and bool((photo.get("image") or {}).get("path"))


def _web_copies(photo: dict) -> list[dict]:
    """The photo's web sizes, small to large; at least the main image."""
    web = [w for w in photo.get("web") or [] if w and w.get("path")]
    return sorted(web, key=lambda w: w.get("width") or 0) or [photo["image"]]


def _image(entry: dict) -> dict:
    return {"src": url_path(entry["path"]), "width": entry.get("width"),
            "height": entry.get("height")}


def _before_for(web: list[dict], width) -> dict:
    """The original to compare a dream with: the smallest web copy at least as wide."""
    wide_enough = [w for w in web if (w.get("width") or 0) >= (width or 0)]
    return _image(wide_enough[0] if wide_enough else web[-1])


def _dream_views(photo: dict, anchor: str, alt: str, web: list[dict],
                 weights_source: str) -> tuple[list, list]:
    """Split a photo's dreams into (shown, not dreamed), both shallow to deep."""
    dreams = sorted(photo.get("dreams") or [], key=lambda d: _layer_order(str(d.get("layer"))))
    shown, missing = [], []
    for d in dreams:
        layer = str(d.get("layer"))
        if d.get("status") == "ok" and d.get("path"):
            shown.append({**_image(d), "layer": layer, "hint": _hint(layer, weights_source),
                          # "--": slugs never hold two dashes, so no photo's anchor can clash.
                          "anchor": f"{anchor}--{_slug(layer)}",
                          "alt": f"Dream at layer {layer}: {alt}",
                          "before": _before_for(web, d.get("width"))})
        else:
            reason = d.get("error") or f"status: {d.get('status') or 'unknown'}"
            missing.append({"layer": layer, "reason": _one_line(reason, _REASON_MAX)})
    return shown, missing


def _photo_view(photo: dict, anchor: str, when: datetime | None, weights_source: str) -> dict:
    alt = _alt_text(photo)
    web = _web_copies(photo)
    dreams, missing = _dream_views(photo, anchor, alt, web, weights_source)
    return {
        **_image(photo["image"]),
        "anchor": anchor,
        "source": str(photo.get("source") or ""),
        "story_html": story_html(photo.get("story")),
        "story_md": story_markdown(photo.get("story")),
        "alt": alt,
        "srcset": ", ".join(f"{url_path(w['path'])} {int(w['width'])}w" for w in web if w.get("width")),
        "sizes": ORIGINAL_SIZES,
        "full": url_path(web[-1]["path"]),      # the full-screen view: the largest copy
        "thumb": _image(web[0]),                # the contact sheet: the smallest
        "lazy": True,
        "caption": _caption_parts(photo, when),
        "when": when,
        "dreams": dreams,
        "missing": missing,
    }


def _taken_order(view: dict) -> tuple:
    """The order taken: by date (undated ones last), then by file name."""
    when = view["when"]
    return (when is None, _wall_clock(when) if when else datetime.min, view["source"])


def _day_groups(views: list[dict]) -> list[dict]:
    """Photos grouped by the day they were taken: 'Day 2 — Tuesday 14 June 2016'.

    Days count from the trip's first day, so a day without photos still counts. Undated
    photos come last, under 'More photos' when there were days before them.
    """
    dated = [v["when"] for v in views if v["when"] is not None]
    first_day = min((_wall_clock(d).date() for d in dated), default=None)
    groups: list[dict] = []
    for view in views:
        day = _wall_clock(view["when"]).date() if view["when"] else None
        if not groups or groups[-1]["date"] != day:
            groups.append({"date": day, "heading": _day_heading(day, first_day, bool(dated)),
                           "anchor": f"day-{(day - first_day).days + 1}" if day else "more-photos",
                           "photos": []})
        groups[-1]["photos"].append(view)
    return groups


def _day_heading(day, first_day, any_dated: bool) -> str | None:
    if day is None:
        return "More photos" if any_dated else None
    dt = datetime(day.year, day.month, day.day)
    return f"Day {(day - first_day).days + 1} — {human_day(dt)}"


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
    if dream:
        return {"dream": dream, "failed": False}
    return {"dream": None, "failed": any(m["layer"] == layer for m in view["missing"])}


def _contact_sheet(views: list[dict], weights_source: str) -> dict:
    """Every photo x layer as a grid: a column per layer any photo was dreamed on or tried."""
    layers = sorted({d["layer"] for v in views for d in v["dreams"] + v["missing"]},
                    key=_layer_order)
    rows = [{"photo": v, "cells": [_contact_cell(v, layer) for layer in layers]} for v in views]
    return {"layers": [{"name": layer, "hint": _hint(layer, weights_source)} for layer in layers],
            "rows": rows,
            "layers_counted": counted(len(layers), "layer")}


# ---------------------------------------------------------------- what went wrong, and the footer


def _failure_views(manifest_photos: list, views_by_index: dict) -> list[dict]:
    """Everything that was not dreamed, in manifest order: whole photos and single layers."""
    failures = []
    for i, photo in enumerate(manifest_photos):
        source = str(photo.get("source") or "(unnamed)")
        view = views_by_index.get(i)
        if view is None:
            reason = photo.get("error") or f"status: {photo.get('status') or 'unknown'}"
            failures.append({"source": source, "layer": None, "anchor": None,
                             "reason": _one_line(reason, _REASON_MAX)})
            continue
        for m in view["missing"]:
            failures.append({"source": source, "layer": m["layer"], "anchor": view["anchor"],
                             "reason": m["reason"]})
    return failures


def _skipped_views(skipped) -> list[dict]:
    """Files in the album that are not photos (notes.txt): said quietly, at the bottom."""
    entries = [s for s in skipped or [] if isinstance(s, dict) and s.get("source")]
    return [{"source": str(s["source"]), "reason": _one_line(s.get("reason") or "", _REASON_MAX)}
            for s in entries]


def counted(n: int, noun: str) -> str:
    """'1 photo', '4 photos'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _sentence_body(text) -> str | None:
    if not text:
        return None
    return str(text).strip().rstrip(".") or None


def _weights_view(weights) -> dict:
    weights = weights if isinstance(weights, dict) else {}
    return {
        "source": weights.get("source"),
        "description": weights.get("description") or weights.get("source") or "unrecorded weights",
        # The templates end these with a full stop of their own.
        "reason": _sentence_body(weights.get("reason")),
        "note": _sentence_body(weights.get("note")),
    }


def _params_view(params) -> list[dict]:
    """Dream parameters as label/value pairs, in the manifest's order, whatever they are."""
    if not isinstance(params, dict):
        return []
    return [{"label": str(k).replace("_", " "), "value": str(v)} for k, v in params.items()]


# ---------------------------------------------------------------- the view


def _date_taken(photo: dict) -> datetime | None:
    """When the photo was taken, from its EXIF. A file's modification time (what ingest falls
    back to) says when it was copied, not taken: such a photo counts as undated here."""
    exif = photo.get("exif") or {}
    if exif.get("date_source") == FILE_MTIME:
        return None
    return parse_datetime(exif.get("date"))


def build_view(manifest: dict) -> dict:
    """Everything the templates need, computed once from the manifest."""
    album = manifest.get("album") or {}
    photos = manifest.get("photos") or []
    title = str(album.get("title") or album.get("name") or "A trip")
    weights_source = str((manifest.get("weights") or {}).get("source") or "imagenet")

    shown = [i for i, photo in enumerate(photos) if _is_shown(photo)]
    anchors = _unique_anchors([str(photos[i].get("source") or "") for i in shown])
    views_by_index = {
        i: _photo_view(photos[i], anchor, _date_taken(photos[i]), weights_source)
        for i, anchor in zip(shown, anchors, strict=True)}
    views = sorted(views_by_index.values(), key=_taken_order)
    if views:
        views[0]["lazy"] = False  # usually on screen at load: lazy-loading it only delays it
    dates = [v["when"] for v in views if v["when"] is not None]
    created = parse_datetime(manifest.get("created"))

    return {
        "title": title,
        "album_name": str(album.get("name") or "album"),
        "dateline": _dateline(dates),
        "first_date": dates[0] if dates else None,
        "intro_html": story_html(album.get("intro")),
        "intro_md": story_markdown(album.get("intro")),
        "outro_html": story_html(album.get("outro")),
        "outro_md": story_markdown(album.get("outro")),
        "days": _day_groups(views),
        "photos": views,
        "contact": _contact_sheet(views, weights_source),
        "failures": _failure_views(photos, views_by_index),
        "skipped": _skipped_views(manifest.get("skipped")),
        "photos_counted": counted(len(views), "photo"),
        "dreams_counted": counted(sum(len(v["dreams"]) for v in views), "dream"),
        "weights": _weights_view(manifest.get("weights")),
        "params": _params_view(manifest.get("dream_params")),
        "layers": [str(layer) for layer in manifest.get("layers") or []],
        "device": manifest.get("device"),
        "created_at": created,
        "created": human_datetime(created) if created else manifest.get("created"),
        "version": manifest.get("dreamtrip_version"),
    }
