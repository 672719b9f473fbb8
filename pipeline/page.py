"""Page writer: renders a run's manifest into index.html, post.md and style.css.

This stage only renders. It reads the manifest and its own templates and nothing else:
no image files, no torch, no prefect. That keeps "regenerate the post after editing
captions" fast (it never loads the deep-learning stack) and lets it run anywhere.

Everything the templates show is prepared here as plain view dicts, so the templates
stay free of logic about dates, URLs or missing values, and the HTML and Markdown
outputs cannot drift apart in what they say.
"""

from __future__ import annotations

import contextlib
import math
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import jinja2
import yaml

from pipeline.files import write_bytes_atomic
from pipeline.layers import LAYER_NAMES, depth, layer_hint

TEMPLATE_DIR = Path(__file__).with_name("templates")

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")

# Alt text is read aloud by screen readers: one sentence or so, not a whole story.
_ALT_MAX = 150
# Error strings can be whole tracebacks; the manifest keeps them in full.
_REASON_MAX = 500


def write_page(manifest: dict, out_dir: Path) -> Path:
    """Render index.html, post.md and style.css into `out_dir`; return the index.html path.

    All three are rendered in memory before any is written, so a template error
    leaves the previous page untouched rather than a new post.md beside an old
    index.html. index.html is written last: if it exists, its stylesheet does too.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    view = build_view(manifest)
    css = (TEMPLATE_DIR / "style.css").read_bytes()
    markdown = _md_env().get_template("post.md.j2").render(view)
    html = _html_env().get_template("index.html.j2").render(view)

    write_bytes_atomic(out_dir / "style.css", css)
    write_bytes_atomic(out_dir / "post.md", markdown.encode("utf-8"))
    index = out_dir / "index.html"
    write_bytes_atomic(index, html.encode("utf-8"))
    return index


# ---------------------------------------------------------------- template environments


def _none_as_empty(value):
    # A missing optional value should vanish from the page, not print "None".
    return "" if value is None else value


@lru_cache(maxsize=1)
def _html_env() -> jinja2.Environment:
    """HTML environment: autoescape on, so user text can never become markup."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        # Our template is named *.html.j2, which the default extension list misses.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.StrictUndefined,
        finalize=_none_as_empty,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class MdSafe(str):
    """Text already fit for Markdown (URLs we encoded, front matter we dumped)."""


def _md_finalize(value):
    # Markdown's counterpart of autoescape: every {{ }} is escaped unless marked
    # MdSafe with the `verbatim` filter, so forgetting a filter errs on the safe side.
    if value is None:
        return ""
    if isinstance(value, MdSafe):
        return value
    return md_escape(str(value))


@lru_cache(maxsize=1)
def _md_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_md_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["verbatim"] = MdSafe
    return env


# ---------------------------------------------------------------- escaping and URLs


def html_entities(text: str) -> str:
    """Escape the three characters that could open raw HTML inside Markdown."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Characters that start emphasis, code, links, tables or strikethrough anywhere in a line.
_MD_INLINE = re.compile(r"([\\`*_\[\]{}|~])")
# Characters that only mean something at the start of a line: headings, list items,
# setext underlines, ordered-list numbers ("1." or "1)").
_MD_LINE_START = re.compile(r"^([#+\-=])|^(\d+)([.)])(?=\s|$)", re.MULTILINE)


def md_escape(text: str) -> str:
    """Escape user text so Markdown shows it literally and passes no raw HTML through."""
    # Leading spaces would turn a line into a code block; they carry no meaning in prose.
    text = "\n".join(line.strip() for line in text.splitlines())
    text = html_entities(text)
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(
        lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), text)


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


# ---------------------------------------------------------------- text helpers


def _paragraphs(text) -> list[str]:
    """Split user text on blank lines; single newlines stay inside a paragraph."""
    if not text or not str(text).strip():
        return []
    return [p.strip() for p in re.split(r"\n\s*\n", str(text).strip()) if p.strip()]


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
    """Alt text: the story's first paragraph, else the file name in plain words."""
    story = _paragraphs(photo.get("story"))
    if story:
        return _one_line(story[0], _ALT_MAX)
    # "IMG_0042-old_town.jpg" -> "IMG 0042 old town": a file name, but readable aloud.
    stem = _file_name(photo.get("source") or "photo").rsplit(".", 1)[0]
    return " ".join(re.split(r"[-_\s]+", stem)).strip() or "photo"


# ---------------------------------------------------------------- dates and places


def _parse_datetime(value) -> datetime | None:
    """ISO 8601 (what the pipeline writes) or raw EXIF "YYYY:MM:DD HH:MM:SS"."""
    if not value:
        return None
    text = str(value).strip()
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text)
    with contextlib.suppress(ValueError):
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    return None


def human_day(dt: datetime) -> str:
    """'Monday 13 June 2016' (fixed English names: the locale must not change the page)."""
    return f"{_DAYS[dt.weekday()]} {dt.day} {_MONTHS[dt.month - 1]} {dt.year}"


def human_datetime(dt: datetime) -> str:
    """'Monday 13 June 2016, 10:22'."""
    return f"{human_day(dt)}, {dt.hour:02d}:{dt.minute:02d}"


def _gps_view(gps) -> dict | None:
    """'50.0875° N, 14.4213° E' plus an OpenStreetMap link, or None if unusable."""
    if not isinstance(gps, dict):
        return None
    try:
        lat, lon = float(gps["lat"]), float(gps["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    text = f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.4f}° {'E' if lon >= 0 else 'W'}"
    la, lo = f"{lat:.5f}", f"{lon:.5f}"
    url = f"https://www.openstreetmap.org/?mlat={la}&mlon={lo}#map=17/{la}/{lo}"
    return {"text": text, "url": url}


def _caption_parts(photo: dict, when: datetime | None) -> list[dict]:
    """The small line under a photo: date, camera, place, file name; each part optional."""
    exif = photo.get("exif") or {}
    parts = []
    if when is not None:
        parts.append({"kind": "date", "text": human_datetime(when), "datetime": when.isoformat(),
                      "url": None})
    elif exif.get("date"):
        # Unparseable date: show it as written rather than dropping what the camera said.
        parts.append({"kind": "date", "text": str(exif["date"]), "datetime": None, "url": None})
    if exif.get("camera"):
        parts.append({"kind": "camera", "text": str(exif["camera"]), "datetime": None, "url": None})
    gps = _gps_view(exif.get("gps"))
    if gps:
        parts.append({"kind": "place", "text": gps["text"], "datetime": None, "url": gps["url"]})
    parts.append({"kind": "file", "text": str(photo.get("source") or ""), "datetime": None,
                  "url": None})
    return parts


# ---------------------------------------------------------------- the view


def _layer_order(layer: str) -> int:
    # Unknown layer names (a newer config?) sort after the known ones, not crash the page.
    return depth(layer) if layer in LAYER_NAMES else len(LAYER_NAMES)


def _hint(layer: str) -> str:
    return layer_hint(layer) if layer in LAYER_NAMES else ""


def _is_shown(photo: dict) -> bool:
    return photo.get("status") == "ok" and bool((photo.get("image") or {}).get("path"))


def _dream_views(photo: dict, alt: str) -> tuple[list[dict], list[dict]]:
    """Split a photo's dreams into (shown, not dreamed), both shallow to deep."""
    dreams = sorted(photo.get("dreams") or [], key=lambda d: _layer_order(str(d.get("layer"))))
    shown, missing = [], []
    for d in dreams:
        layer = str(d.get("layer"))
        if d.get("status") == "ok" and d.get("path"):
            shown.append({"layer": layer, "hint": _hint(layer), "src": url_path(d["path"]),
                          "width": d.get("width"), "height": d.get("height"),
                          "alt": f"Dream at layer {layer}: {alt}"})
        else:
            reason = d.get("error") or f"status: {d.get('status') or 'unknown'}"
            missing.append({"layer": layer, "reason": _one_line(reason, _REASON_MAX)})
    return shown, missing


def _srcset(web: list) -> str:
    entries = [w for w in web or [] if w and w.get("path") and w.get("width")]
    return ", ".join(f"{url_path(w['path'])} {int(w['width'])}w" for w in entries)


def _photo_view(number: int, photo: dict, eager: bool, when: datetime | None) -> dict:
    image = photo["image"]
    alt = _alt_text(photo)
    dreams, missing = _dream_views(photo, alt)
    return {
        "anchor": f"photo-{number}",
        "source": str(photo.get("source") or ""),
        "story": _paragraphs(photo.get("story")),
        "alt": alt,
        "src": url_path(image["path"]),
        "srcset": _srcset(photo.get("web")),
        "width": image.get("width"),
        "height": image.get("height"),
        # The first photo is usually on screen at load; lazy-loading it only delays it.
        "lazy": not eager,
        "caption": _caption_parts(photo, when),
        "day": None,
        "dreams": dreams,
        "missing": missing,
    }


def _failure_views(manifest_photos: list, views_by_index: dict) -> list[dict]:
    """Everything that was not dreamed, in page order: whole photos and single layers."""
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


def _dateline(dates: list[datetime]) -> str | None:
    """The trip's span under the title, as short as it can be said.

    'Monday 13 June 2016', '13–15 June 2016', '28 June – 2 July 2016',
    '30 December 2016 – 2 January 2017'.
    """
    if not dates:
        return None
    # Camera clocks are local time; comparing wall-clock values also avoids the
    # TypeError of mixing naive and offset-aware datetimes.
    first = min(dates, key=lambda d: d.replace(tzinfo=None))
    last = max(dates, key=lambda d: d.replace(tzinfo=None))
    if first.date() == last.date():
        return human_day(first)
    end = f"{last.day} {_MONTHS[last.month - 1]} {last.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{end}"
    if first.year == last.year:
        return f"{first.day} {_MONTHS[first.month - 1]} – {end}"
    return f"{first.day} {_MONTHS[first.month - 1]} {first.year} – {end}"


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


def _front_matter(title: str, album_name: str, date, cover: str | None) -> str:
    """YAML front matter, dumped by PyYAML so any title quotes correctly.

    Strings get the same <, >, & escaping as the Markdown body: a static site
    generator may paste the title into HTML unescaped.
    """
    data = {
        "title": html_entities(title),
        "date": date,
        "tags": ["travel", "deepdream", html_entities(album_name)],
    }
    if cover:
        data["cover"] = cover
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                            default_flow_style=None, width=10_000)
    return f"---\n{dumped}---\n"


def build_view(manifest: dict) -> dict:
    """Everything the templates need, computed once from the manifest."""
    album = manifest.get("album") or {}
    photos = manifest.get("photos") or []
    title = str(album.get("title") or album.get("name") or "A trip")
    album_name = str(album.get("name") or "album")

    views, views_by_index, dates = [], {}, []
    previous_day = None
    for i, photo in enumerate(photos):
        if not _is_shown(photo):
            continue
        when = _parse_datetime((photo.get("exif") or {}).get("date"))
        view = _photo_view(i + 1, photo, eager=not views, when=when)
        # A new day heading whenever the date changes: the post reads like a diary.
        if when is not None:
            dates.append(when)
            if when.date() != previous_day:
                view["day"] = human_day(when)
                previous_day = when.date()
        views.append(view)
        views_by_index[i] = view

    created = _parse_datetime(manifest.get("created"))
    post_date = dates[0] if dates else (created or manifest.get("created"))
    cover = views[0]["src"] if views else None

    return {
        "title": title,
        "dateline": _dateline(dates),
        "intro": _paragraphs(album.get("intro")),
        "outro": _paragraphs(album.get("outro")),
        "photos": views,
        "failures": _failure_views(photos, views_by_index),
        "photo_count": len(views),
        "dream_count": sum(len(v["dreams"]) for v in views),
        "weights": _weights_view(manifest.get("weights")),
        "params": _params_view(manifest.get("dream_params")),
        "layers": [str(layer) for layer in manifest.get("layers") or []],
        "device": manifest.get("device"),
        "created": human_datetime(created) if created else manifest.get("created"),
        "version": manifest.get("dreamtrip_version"),
        "front_matter": _front_matter(title, album_name, post_date, cover),
    }
