"""`dreamtrip export`: the post into a blog the traveller already has (Hugo or Jekyll), ready to
build with the site's own theme.

Hugo: a page bundle, SITE/content/posts/<slug>/index.md, with the pictures it links beside it
  (photos/, dreams/, map.svg): Hugo publishes them with the page, and themes find the cover
  among the page's resources.
Jekyll: SITE/_posts/<date>-<slug>.md, its pictures under SITE/assets/<slug>/, linked through
  Liquid's `relative_url`, so the site's `baseurl` is honoured wherever the site is served.

The post is post.md as the output folder has it (pipeline/post/page.py renders both), with only
its links changed; only the files it links are copied (the JPEGs it shows, the dreams' full-size
files, the map), not the AVIF twins or every web size. So nothing goes into the site that the
output folder would not publish, and a photo with `hide: true` does not go at all.

The site is the traveller's: export follows the output folder's rules (pipeline/output/folder.py).
- It keeps a record of each file it wrote, SITE/.dreamtrip-files.jsonl (pipeline/output/records.py:
  path, size, sha256). Hugo and Jekyll leave a dot-file out of the site they build.
- Before it writes anything it checks every place it writes: a file it did not write, or one
  changed since it wrote it (a hand edit), stops it with one line naming the file, and so does
  a link (a symlink) anywhere between SITE and a file it writes: never followed.
- Exporting again writes the post anew, then deletes the files of the earlier export of the
  same post that the new one no longer uses (the Jekyll post's file after its date changed, the
  pictures of a photo since hidden), if they are still as written; never anything else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from pipeline.manifest import Manifest
from pipeline.output.files import link_on_the_way, slug
from pipeline.output.folder import adopt_earlier_release
from pipeline.output.records import RECORD, record_of
from pipeline.post.page import PostDialect, page_view, render_post

ENGINES = ("hugo", "jekyll")
HUGO_SECTION = "content/posts"
JEKYLL_POSTS, JEKYLL_ASSETS = "_posts", "assets"
# How each engine's site says what it is: its configuration file at the top.
SITE_CONFIGS = {
    "hugo": ("hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config.yaml",
             "config.yml", "config.json", "config/_default"),
    "jekyll": ("_config.yml", "_config.yaml", "_config.toml"),
}
_MAKE_ONE = {"hugo": "`hugo new site SITE` makes one", "jekyll": "`jekyll new SITE` makes one"}


class ExportError(Exception):
    """The post cannot be exported as asked: one line saying why and what to do (exit 2).
    Raised before anything is written to the site."""


@dataclass(frozen=True)
class Blog:
    """Where one post goes in one site, and how its pictures are linked from it."""

    engine: str          # hugo | jekyll
    site: Path
    slug: str            # the post's name in the site: the album folder's name as a slug
    day: date            # the post's date (Jekyll's file name starts with it)

    @property
    def post_file(self) -> str:
        if self.engine == "hugo":
            return f"{HUGO_SECTION}/{self.slug}/index.md"
        return f"{JEKYLL_POSTS}/{self.day.isoformat()}-{self.slug}.md"

    def copy_of(self, path: str) -> str:
        """Where the output folder's file `path` goes in the site."""
        if self.engine == "hugo":
            return f"{HUGO_SECTION}/{self.slug}/{path}"
        return f"{JEKYLL_ASSETS}/{self.slug}/{path}"

    def belongs(self, name: str) -> bool:
        """Whether a file the record lists (relative to the site) is of this post: what an
        earlier export of it may have written."""
        if self.engine == "hugo":
            return name.startswith(f"{HUGO_SECTION}/{self.slug}/")
        return (name.startswith(f"{JEKYLL_ASSETS}/{self.slug}/")
                or re.fullmatch(rf"{JEKYLL_POSTS}/\d{{4}}-\d\d-\d\d-{re.escape(self.slug)}\.md", name) is not None)

    def rivals(self) -> list[str]:
        """Files of the site that would be this post's page too: Hugo's `posts/<slug>.md`."""
        return [f"{HUGO_SECTION}/{self.slug}.md"] if self.engine == "hugo" else []

    def dialect(self) -> PostDialect:
        return PostDialect() if self.engine == "hugo" else JekyllDialect(self.slug)


class JekyllDialect(PostDialect):
    """Pictures under /assets/<slug>/, through Liquid's relative_url: the site's baseurl is
    added when the site is built, so the post works at / and under /blog/ alike. (The story
    text cannot open Liquid: pipeline/post/story.py writes its `{` as `&#123;`.) Jekyll gives a
    post no layout unless told: `post`, which every Jekyll theme has."""

    layout = "post"
    describe = True

    def __init__(self, post_slug: str):
        super().__init__()
        self.base = f"/{JEKYLL_ASSETS}/{post_slug}/"

    def body(self, src: str) -> str:
        return "{{ '" + self.base + src + "' | relative_url }}"   # src is percent-encoded: no quote in it

    def front(self, src: str) -> str:
        super().front(src)
        return self.base + src   # front matter holds no Liquid; themes and jekyll-seo-tag add the baseurl


@dataclass
class Exported:
    post: Path                                          # the post's file in the site
    pictures: int                                       # files copied beside or for it
    removed: list[str] = field(default_factory=list)    # files of an earlier export no longer used
    kept: list[str] = field(default_factory=list)       # such files changed since: left alone


def export_post(manifest: Manifest, out_dir: Path, engine: str, site: Path) -> Exported:
    """Write the post of the output folder `out_dir` (whose `manifest` this is) into `site`.

    Everything is checked before anything is written (ExportError). The caller holds the
    output folder's lock, so the files copied are the ones the manifest names.
    """
    site, out_dir = Path(site), Path(out_dir)
    check_site(engine, site)
    adopt_earlier_release(out_dir, record_of(out_dir))   # a folder made before the record: its files
    view, _ = page_view(manifest)
    blog = Blog(engine, site, slug(manifest.album.name, fallback="trip"), _day(view["post_date"]))
    dialect = blog.dialect()
    text = render_post(view, dialect).encode("utf-8")
    copies = {blog.copy_of(path): path for path in dialect.used}
    _check_sources(out_dir, list(dialect.used))
    _no_link_on_the_way(site, RECORD)   # the record is appended to: never through a link
    record = record_of(site)
    for rival in blog.rivals():
        if os.path.lexists(site / rival):
            raise ExportError(f"{site / rival} is a post of the same name: rename it, or the album's "
                              "folder (the post is named after it)")
    _check_targets(site, record, [*copies, blog.post_file])

    written_in_out = record_of(out_dir)
    for target, path in copies.items():
        written = written_in_out.get(path)   # checked by hash above
        if record.get(target) != written or not os.path.lexists(site / target):  # else: the same bytes
            record.copy(out_dir / path, target, written=written)
    record.write_bytes(blog.post_file, text)   # last: when it is there, what it links is too
    exported = Exported(site / blog.post_file, len(copies))
    _remove_earlier(blog, record, {*copies, blog.post_file}, exported)
    record.compact()
    return exported


def check_site(engine: str, site: Path) -> None:
    """`site` is a site of `engine`: its configuration file is at its top."""
    if engine not in ENGINES:
        raise ExportError(f"{engine}: dreamtrip exports to {' or '.join(ENGINES)}")
    if not Path(site).is_dir():
        raise ExportError(f"{site}: no such folder (the {engine.title()} site to export to)")
    if not any(os.path.lexists(Path(site) / name) for name in SITE_CONFIGS[engine]):
        raise ExportError(f"{site} is not a {engine.title()} site (no {SITE_CONFIGS[engine][0]}): give the "
                          f"site's top folder ({_MAKE_ONE[engine]})")


def _day(value: date | datetime | None) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value or date.today()


def _check_sources(out_dir: Path, paths: list[str]) -> None:
    """The files the post links are in the output folder as dreamtrip wrote them (sha256):
    nothing damaged, replaced or planted is published."""
    record = record_of(out_dir)
    for path in paths:
        if not record.intact(path, by_hash=True):
            raise ExportError(f"{out_dir / path} is missing, or changed since dreamtrip wrote it: "
                              "`dreamtrip retry ALBUM` makes it again")


def _check_targets(site: Path, record, targets: list[str]) -> None:
    """Every file export writes: no link on the way to it, and where a file stands, it is one
    export wrote and nobody has changed since."""
    for target in targets:
        _no_link_on_the_way(site, target)
        path = site / target
        if not os.path.lexists(path):
            continue
        if record.get(target) is None:
            raise ExportError(f"{path} was not written by dreamtrip, and the post goes there: move it "
                              "out of the way (or rename the album's folder: the post is named after it)")
        if not record.intact(target, by_hash=True):
            raise ExportError(f"{path} was changed since dreamtrip exported it: edit album.yaml "
                              "(then `dreamtrip blog`) rather than the exported post, and delete this "
                              "file to export again")


def _no_link_on_the_way(site: Path, target: str) -> None:
    """No folder between `site` and `target`, nor the file itself, is a symlink, and each
    folder on the way is a folder: export never writes through a link."""
    link = link_on_the_way(site, target)
    if link is not None:
        raise ExportError(f"{link} is a link: dreamtrip does not write through links; "
                          "replace it with a folder (or a file) of its own")
    parts = PurePosixPath(target).parts
    for depth in range(1, len(parts) + 1):
        path = site.joinpath(*parts[:depth])
        if depth < len(parts) and os.path.lexists(path) and not path.is_dir():
            raise ExportError(f"{path} is a file where the post needs a folder: move it out of the way")
        if depth == len(parts) and path.is_dir():
            raise ExportError(f"{path} is a folder where the post writes a file: move it out of the way")


def _remove_earlier(blog: Blog, record, now: set[str], exported: Exported) -> None:
    """Delete the files an earlier export of this post wrote that this one does not, if they
    are still as written; a changed one is left where it is, and said."""
    gone, asked = [], []
    for name in sorted(record.files()):
        if name in now or not blog.belongs(name):
            continue
        if not os.path.lexists(blog.site / name):
            gone.append(name)
        else:
            asked.append(name)
    # the owner deletes only what is still as it wrote it, never through a link
    deleted = record.delete(asked)
    exported.removed.extend(deleted)
    exported.kept.extend(name for name in asked if name not in deleted)
    record.forget(gone)
    _remove_empty_folders(blog, gone + deleted)


def _remove_empty_folders(blog: Blog, gone: list[str]) -> None:
    """Folders left empty by the deletions, up to the post's own folder (never the site's)."""
    top = PurePosixPath({"hugo": f"{HUGO_SECTION}/{blog.slug}", "jekyll": f"{JEKYLL_ASSETS}/{blog.slug}"}[blog.engine])
    for name in gone:
        folder = PurePosixPath(name).parent
        while folder == top or top in folder.parents:
            try:
                (blog.site / folder).rmdir()   # only when empty
            except OSError:
                break
            folder = folder.parent
