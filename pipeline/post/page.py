"""Page writer: renders a run's manifest into a self-contained folder.

index.html (the post), contact-sheet.html (every photo x layer), post.md (the same post as
Markdown with front matter for Hugo or Jekyll), and the one stylesheet and small script that
both pages use, copied in: the folder opens from disk and moves anywhere, with no CDN.

This stage only renders. It reads the typed manifest and its own templates and nothing else:
no image files, no torch, no prefect, no Pillow. That keeps "regenerate the post after
editing captions" fast (it never loads the deep-learning stack) and lets it run anywhere.
What the post says is worked out in pipeline.post.view; here it is only written down.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import jinja2
import yaml
from markupsafe import Markup

from pipeline.manifest import Manifest
from pipeline.output.layout import ASSETS, CONTACT_SHEET, INDEX, MAP, PAGE_FILES, POST  # noqa: F401
from pipeline.output.records import record_of
from pipeline.post.map import TripMap, trip_map
from pipeline.post.story import escape_line_starts, escape_text
from pipeline.post.themes import GENERIC, Theme, cover_matter
from pipeline.post.view import build_view, url_path  # noqa: F401  (url_path: part of this API)

TEMPLATE_DIR = Path(__file__).with_name("templates")
# File names: pipeline/output/layout.py (ASSETS are copied next to the pages as they are; INDEX
# is written last: if it exists, everything it links to does too).


def write_page(manifest: Manifest, out_dir: Path) -> Path:
    """Render the pages, the post and their assets into `out_dir`; return the index.html path.

    All are rendered in memory before any is written, so a template error leaves the
    previous page untouched rather than a new post.md beside an old index.html.
    """
    out_dir = Path(out_dir)
    view, trip = page_view(manifest)
    view["contact_sheet_url"] = CONTACT_SHEET
    view["index_url"] = INDEX
    rendered = {name: (TEMPLATE_DIR / name).read_bytes() for name in ASSETS}
    if trip is not None:
        rendered[MAP] = trip.file().encode("utf-8")
    else:
        _remove_own_map(out_dir)   # an earlier run's map may show what the settings now hide
    rendered[POST] = render_post(view, PostDialect()).encode("utf-8")
    rendered[CONTACT_SHEET] = _render_html("contact-sheet.html.j2", view)
    rendered[INDEX] = _render_html("index.html.j2", view)
    output = record_of(out_dir)
    for name, data in rendered.items():  # dicts keep insertion order: index.html last
        if not output.holds(name, data):  # the same bytes: nothing to write (a full disk has no room for it)
            output.write_bytes(name, data)
    return out_dir / INDEX


def page_view(manifest: Manifest) -> tuple[dict, TripMap | None]:
    """The view the pages and the post render, with the trip's map (None: no map)."""
    view = build_view(manifest)
    trip = trip_map(view["days"], manifest.settings.privacy.location,
                    manifest.tracks.days if manifest.tracks else ())
    view["map"] = _map_view(trip)
    return view, trip


class PostDialect:
    """post.md as one blog engine reads it: how it links its pictures (noting which files it
    links) and what its front matter adds. Here: pictures beside it, as in the output folder
    and a Hugo page bundle. pipeline/post/export.py has Jekyll's."""

    layout: str | None = None   # the front matter's `layout` (Jekyll's posts need one)
    # The summary as `description` and `excerpt` too: Jekyll's SEO tag and post lists read them
    # (else the first paragraph: here the dateline), while Hugo's PaperMod and Ananke print a
    # description under the title, above the same intro.
    describe: bool = False

    def __init__(self, theme: Theme = GENERIC["hugo"]):
        self.used: dict[str, None] = {}  # the output folder's files the post links, in order
        self.theme = theme               # whose front-matter keys name the cover (themes.py)

    @property
    def leads_with_cover(self) -> bool:
        """The post opens with its cover photo: the theme shows none (never both)."""
        return not self.theme.shows

    def __call__(self, src: str) -> "MdSafe":
        """The link in the body for `src` (a percent-encoded path in the output folder)."""
        self.used[unquote(src)] = None
        return MdSafe(self.body(src))

    def front(self, src: str) -> str:
        """The path front matter gives for `src` as a page resource (themes look it up, no
        Liquid there)."""
        self.used[unquote(src)] = None
        return src

    def site_path(self, src: str) -> str:
        """`src` as a path from the site's root, for themes that pass it to relURL/absURL (the
        output folder's post.md has no site: its own path)."""
        return src

    def body(self, src: str) -> str:
        return src


def render_post(view: dict, dialect: PostDialect) -> str:
    """post.md: front matter and Markdown, in `dialect`."""
    return _md_env().get_template("post.md.j2").render(
        {**view, "link": dialect, "front_matter": _front_matter(view, dialect),
         "lead_cover": view["cover"] if dialect.leads_with_cover else None})


def _map_view(trip: TripMap | None) -> dict | None:
    if trip is None:
        return None
    return {"svg": Markup(trip.svg(links=True)), "file": MAP, "description": trip.description,
            "names": trip.names()}


def _remove_own_map(out_dir: Path) -> None:
    """Delete map.svg if this program wrote it, as it wrote it (the record decides: a file of the
    same name that someone else put there, or changed since, is left alone)."""
    record_of(out_dir).delete([MAP])


def _render_html(template: str, view: dict) -> bytes:
    return _html_env().get_template(template).render(view).encode("utf-8")


# ---------------------------------------------------------------- template environments


def _none_as_empty(value):
    # A missing optional value should vanish from the page, not print "None".
    return "" if value is None else value


def _env(**options) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, **options)


@lru_cache(maxsize=1)
def _html_env() -> jinja2.Environment:
    """HTML environment: autoescape on, so user text can never become markup."""
    # Our template is named *.html.j2, which the default extension list misses.
    return _env(autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
                finalize=_none_as_empty)


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
    env = _env(autoescape=False, finalize=_md_finalize)
    env.filters["verbatim"] = MdSafe
    return env


# ---------------------------------------------------------------- escaping and URLs


def html_entities(text: str) -> str:
    """Escape the three characters that could open raw HTML inside Markdown."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _front_plain(text: str) -> str:
    """User text for a front matter value the engines print as text (the title, a tag, the
    cover's alt): as typed, for Hugo's templates and Jekyll's themes escape it as they print it
    (escaped here too, `Tom & Jerry` read `Tom &amp; Jerry` on the page). Only `<` and `>` are
    written as entities, so a theme that prints it unescaped is given no markup either; and a
    `{{` or `{%` gets a space, so that no template language (Liquid) finds a tag in it."""
    return re.sub(r"\{(?=[{%])", "{ ", text.replace("<", "&lt;").replace(">", "&gt;"))


def _front_html(text: str) -> str:
    """User text for a front matter value the engines take as Markdown or HTML (the summary:
    Hugo renders it, Jekyll's themes print an excerpt as it is): no raw HTML, and no `{`,
    which could open Liquid (as in the body: pipeline/post/story.py)."""
    return html_entities(text).replace("{", "&#123;")


def md_escape(text: str) -> str:
    """Escape user text so Markdown shows it literally: no raw HTML, no Liquid (the rules are
    pipeline.post.story's, which writes the stories)."""
    # Leading spaces would turn a line into a code block; they carry no meaning in prose.
    text = "\n".join(line.strip() for line in text.splitlines())
    return escape_line_starts(escape_text(text))


def _front_matter(view: dict, dialect: PostDialect) -> str:
    """YAML front matter that blog themes understand, dumped by PyYAML so any title quotes
    correctly: the title (no `# Title` in the body: themes print it), the date a blog files the
    post under, a summary for lists and link previews, tags, and the cover under the keys the
    theme reads, in its shape (pipeline/post/themes.py: cover_matter).

    The title, tags, alt text and description are text (_front_plain), the summary Markdown
    (_front_html): each as the engines read it.
    """
    data = {"title": _front_plain(view["title"])}
    if dialect.layout:
        data["layout"] = dialect.layout
    if view["post_date"]:
        data["date"] = view["post_date"]
    if view["summary"]:
        # Not `description`: PaperMod and Ananke print it under the title, above the same intro.
        # Their lists and link previews (and Jekyll's, from the first paragraph) take `summary`.
        data["summary"] = _front_html(view["summary"])
        if dialect.describe:   # Jekyll's SEO tag escapes a description; themes print an excerpt as HTML
            data["description"], data["excerpt"] = _front_plain(view["summary"]), data["summary"]
    data["tags"] = ["travel", "deepdream", _front_plain(view["album_name"])]
    if view["cover"]:
        src = view["cover"]["src"]
        data.update(cover_matter(dialect.theme, dialect.front(src), dialect.site_path(src),
                                 _front_plain(view["cover"]["alt"])))
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                            default_flow_style=False, width=10_000)
    return f"---\n{dumped}---\n"
