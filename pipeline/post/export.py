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
- A post's place (its slug) belongs to the album it is of, not to its name: the record notes
  which album claimed which slug (a hash of the album's resolved path: stable from run to run,
  and no path of the machine published). Two albums of the same name (two `prague`, or `京都`
  and `東京`, both `trip`) get two posts: the second takes the next free slug (`prague-2`) and
  says so, as it does when the slug is taken by a file of the traveller's. Exporting the same
  album again updates its own post; export never overwrites or deletes another album's.
- plan_export decides the place and makes every check that needs no manifest, writing
  nothing: a run calls it before any dreaming, and export_post writes where it decided.
- Before it writes anything it checks every place it writes: a file it did not write, or one
  changed since it wrote it (a hand edit), stops it with one line naming the file, and so does
  a link (a symlink) anywhere between SITE and a file it writes: never followed.
- Exporting again writes the post anew, then deletes the files of the earlier export of the
  same post that the new one no longer uses (the Jekyll post's file after its date changed, the
  pictures of a photo since hidden), if they are still as written; never anything else.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from pipeline.manifest import Manifest
from pipeline.output.files import link_on_the_way
from pipeline.output.folder import adopt_earlier_release
from pipeline.output.records import RECORD, FileRecord, record_of
from pipeline.post.page import PostDialect, page_view, render_post
from pipeline.post.themes import GENERIC, Theme, theme_of
from pipeline.text import slug


@dataclass(frozen=True)
class Engine:
    """How one blog engine's site holds a post: a row of ENGINES."""

    name: str
    configs: tuple[str, ...]     # its configuration at the site's top: what makes a folder its site
    make_one: str                # how to make a site of it
    build: str                   # how to build one
    post: str                    # the post's file in the site, from {slug} and {day}
    pictures: str                # the folder the post's pictures go in, from {slug}
    address: str                 # where the built site serves them, from its root (default permalinks)
    namesakes: tuple[str, ...]   # the site's files (globs) that would be a post of the same slug


_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
ENGINES = {
    # A page bundle: Hugo publishes the pictures beside the page, and themes find the cover among them.
    "hugo": Engine("hugo", ("hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config.yaml",
                            "config.yml", "config.json", "config/_default"),
                   "`hugo new site SITE` makes one", "`hugo`",
                   "content/posts/{slug}/index.md", "content/posts/{slug}", "posts/{slug}",
                   ("content/posts/{slug}.md",)),
    # Jekyll's posts are files named by date; their pictures go where the site keeps assets.
    "jekyll": Engine("jekyll", ("_config.yml", "_config.yaml", "_config.toml"),
                     "`jekyll new SITE` makes one", "`jekyll build`",
                     "_posts/{day}-{slug}.md", "assets/{slug}", "/assets/{slug}",
                     (f"_posts/{_DAY}-{{slug}}.md", f"_posts/{_DAY}-{{slug}}.markdown")),
}
_MAX_SLUGS = 1000   # prague, prague-2, ... : a site with more namesakes is not a site to guess in


class ExportError(Exception):
    """The post cannot be exported as asked: one line saying why and what to do (exit 2).
    Raised before anything is written to the site."""


def album_owner(album_dir: Path) -> str:
    """The album's identity in a site's record: a hash of its resolved path. The same album
    (run, blog, export, again and again) has the same one; the path itself is not published."""
    path = os.fsencode(Path(album_dir).resolve())
    return hashlib.sha256(b"dreamtrip album\0" + path).hexdigest()[:16]


@dataclass(frozen=True)
class Blog:
    """Where one album's post goes in one site (what plan_export decided), and how its pictures
    are linked from it."""

    engine: Engine
    site: Path
    slug: str            # the post's name in the site
    owner: str           # the album's identity (album_owner)
    taken: str | None    # why not the album folder's name as a slug (then `slug` is the next free one)
    theme: Theme = GENERIC["hugo"]   # the site's theme: how the post names its cover (themes.py)

    @property
    def claim(self) -> str:
        """The name the site's record notes this album's claim under."""
        return f"{self.engine.name}:{self.slug}"

    def post_file(self, day: date) -> str:
        return self.engine.post.format(slug=self.slug, day=day.isoformat())

    def copy_of(self, path: str) -> str:
        """Where the output folder's file `path` goes in the site."""
        return f"{self.pictures}/{path}"

    @property
    def pictures(self) -> str:
        return self.engine.pictures.format(slug=self.slug)

    def belongs(self, name: str) -> bool:
        """Whether a file the record lists (relative to the site) is of this post: what an
        earlier export of it may have written."""
        return name.startswith(f"{self.pictures}/") or _namesake(self.engine, self.slug, name)

    def dialect(self) -> PostDialect:
        address = self.engine.address.format(slug=self.slug)
        return HugoDialect(self.theme, address) if self.engine.name == "hugo" else \
            JekyllDialect(self.theme, address)


class HugoDialect(PostDialect):
    """A page bundle: pictures beside the post, as in the output folder; a theme that takes the
    cover as a path from the site's root (relURL, absURL) is given the bundle's address."""

    def __init__(self, theme: Theme, address: str):
        super().__init__(theme)
        self.address = address

    def site_path(self, src: str) -> str:
        return f"{self.address}/{src}"   # no leading `/`: relURL and absURL add the baseURL's path


class JekyllDialect(PostDialect):
    """Pictures under /assets/<slug>/, through Liquid's relative_url: the site's baseurl is
    added when the site is built, so the post works at / and under /blog/ alike. (The story
    text cannot open Liquid: pipeline/post/story.py writes its `{` as `&#123;`.) Jekyll gives a
    post no layout unless told: `post`, which every Jekyll theme has."""

    layout = "post"
    describe = True

    def __init__(self, theme: Theme, address: str):
        super().__init__(theme)
        self.base = f"{address}/"

    def body(self, src: str) -> str:
        return "{{ '" + self.base + src + "' | relative_url }}"   # src is percent-encoded: no quote in it

    def front(self, src: str) -> str:
        super().front(src)
        return self.base + src   # front matter holds no Liquid; themes and jekyll-seo-tag add the baseurl

    def site_path(self, src: str) -> str:
        return self.base + src


@dataclass
class Exported:
    post: Path                                          # the post's file in the site
    pictures: int                                       # files copied beside or for it
    slug: str = ""                                      # its name in the site
    taken: str | None = None                            # why the post is not under the album's name
    removed: list[str] = field(default_factory=list)    # files of an earlier export no longer used
    kept: list[str] = field(default_factory=list)       # such files changed since: left alone


# ---------------------------------------------------------------- deciding, writing nothing


def plan_export(album_dir: Path, out_dir: Path, engine: str, site: Path) -> Blog:
    """Where the post of `album_dir` (written to the output folder `out_dir`) goes in `site`, a
    site of `engine`, after every check that needs no manifest; writes nothing (ExportError,
    one line). A run calls it before any dreaming, `dreamtrip export` before it writes to any
    site; export_post writes there.

    The slug: the one this album claimed in the site before, else the album folder's name as a
    slug, else the next free one (`prague-2`: `Blog.taken` says why).
    """
    site, rules = Path(site), _rules(engine)
    _check_apart(album_dir, out_dir, rules, site)
    check_site(engine, site)
    _no_link_on_the_way(site, RECORD)   # the record is read and appended to: never through a link
    record = record_of(site)
    for folder in _site_folders(rules):   # the site's own (content/posts, _posts, assets)
        _no_link_on_the_way(site, folder, folder=True)
    owner, asked = album_owner(album_dir), slug(Path(album_dir).resolve().name, fallback="trip")
    chosen, taken = _slug_for(record, rules, site, owner, asked)
    blog = Blog(rules, site, chosen, owner, taken, theme_of(engine, site))
    _check_own_place(blog, record)
    return blog


def check_site(engine: str, site: Path) -> None:
    """`site` is a site of `engine`: its configuration file is at its top."""
    rules = _rules(engine)
    if not Path(site).is_dir():
        raise ExportError(f"{site}: no such folder (the {engine.title()} site to export to)")
    if not any(os.path.lexists(Path(site) / name) for name in rules.configs):
        raise ExportError(f"{site} is not a {engine.title()} site (no {rules.configs[0]}): give the "
                          f"site's top folder ({rules.make_one})")


def _rules(engine: str) -> Engine:
    if engine not in ENGINES:
        raise ExportError(f"{engine}: dreamtrip exports to {' or '.join(ENGINES)}")
    return ENGINES[engine]


def _check_apart(album_dir: Path, out_dir: Path, rules: Engine, site: Path) -> None:
    """The site is neither the album nor the output folder, nor inside either: its record
    there would make the album look like an output folder, and the post would land among the
    photos or the files the output folder publishes."""
    where = site.resolve()
    for folder, what in ((album_dir, "the album folder"), (out_dir, "the output folder")):
        folder = Path(folder).resolve()
        if where.is_relative_to(folder):
            place = what if where == folder else f"inside {what} {folder}"
            raise ExportError(f"{site} is {place}, not a blog: give your {rules.name.title()} "
                              f"site's folder ({rules.make_one})")


def _slug_for(record: FileRecord, rules: Engine, site: Path, owner: str, asked: str) -> tuple[str, str | None]:
    """The slug the album's post takes, and why it is not `asked` (None: it is)."""
    claims = {name.partition(":")[2]: who for name, who in record.claims().items()
              if name.startswith(f"{rules.name}:")}
    candidates = [asked, *(f"{asked}-{n}" for n in range(2, _MAX_SLUGS))]
    own = next((candidate for candidate in candidates if claims.get(candidate) == owner), None)
    if own is not None:   # exported before: its own post, wherever it went
        return own, None if own == asked else _why_taken(record, rules, site, claims, asked)
    for candidate in candidates:
        if candidate not in claims and _free(record, rules, site, candidate):
            return candidate, None if candidate == asked else _why_taken(record, rules, site, claims, asked)
    raise ExportError(f"{site}: {asked} and {_MAX_SLUGS - 1} more slugs after it are taken: rename the album's "
                      "folder (the post is named after it)")


def _why_taken(record: FileRecord, rules: Engine, site: Path, claims: dict, asked: str) -> str:
    if asked in claims:
        return f"{asked} is the post of another album of that name"
    stranger = next(_strangers(record, rules, site, asked), None)
    return f"{site / stranger if stranger else asked} is not dreamtrip's"


def _free(record: FileRecord, rules: Engine, site: Path, candidate: str) -> bool:
    """Nothing stands at the slug's places (its pictures' folder, its post's file and its
    namesakes) but files dreamtrip exported there (an export made before the record named the
    album: taken over by the first album to export there again)."""
    return next(_strangers(record, rules, site, candidate), None) is None


def _strangers(record: FileRecord, rules: Engine, site: Path, candidate: str):
    """What stands at the places of `candidate` that dreamtrip did not write (relative to the
    site): a file, a link, anything not recorded."""
    recorded = record.files()
    pictures = rules.pictures.format(slug=candidate)
    if os.path.lexists(site / pictures) and (os.path.islink(site / pictures) or not (site / pictures).is_dir()):
        yield pictures
    elif (site / pictures).is_dir():
        for root, dirs, files in os.walk(site / pictures):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                relative = (Path(root) / name).relative_to(site).as_posix()
                if relative not in recorded:
                    yield relative
    for glob in rules.namesakes:
        folder = PurePosixPath(glob).parent.as_posix()
        if (site / folder).is_dir() and not os.path.islink(site / folder):
            for entry in os.scandir(site / folder):
                relative = f"{folder}/{entry.name}"
                if fnmatchcase(relative, glob.format(slug=candidate)) and relative not in recorded:
                    yield relative


def _site_folders(rules: Engine) -> set[str]:
    """The folders of the site every post of `rules` is written in (not one post's own)."""
    folders = {PurePosixPath(rules.pictures).parent, PurePosixPath(rules.post).parent}
    return {folder.as_posix() for folder in folders if "{slug}" not in folder.as_posix()}


def _namesake(rules: Engine, candidate: str, name: str) -> bool:
    return any(fnmatchcase(name, glob.format(slug=candidate)) for glob in rules.namesakes)


def _check_own_place(blog: Blog, record: FileRecord) -> None:
    """The folders the post writes in are folders, reached through no link; in a place the album
    had already (its slug's files are its own), no namesake of the traveller's has come since,
    and the post's file (Hugo's: Jekyll's depends on the date) is dreamtrip's as it wrote it."""
    _no_link_on_the_way(blog.site, blog.pictures, folder=True)
    for name in _strangers(record, blog.engine, blog.site, blog.slug):
        if _namesake(blog.engine, blog.slug, name):
            raise ExportError(f"{blog.site / name} is a post of the same name: rename it, or the album's "
                              "folder (the post is named after it)")
    if "{day}" not in blog.engine.post:
        _check_targets(blog.site, record, [blog.engine.post.format(slug=blog.slug, day="")])


def _check_targets(site: Path, record: FileRecord, targets: list[str]) -> None:
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
        if not record.intact(target):
            raise ExportError(f"{path} was changed since dreamtrip exported it: edit album.yaml "
                              "(then `dreamtrip blog`) rather than the exported post, and delete this "
                              "file to export again")


def _no_link_on_the_way(site: Path, target: str, folder: bool = False) -> None:
    """No folder between `site` and `target`, nor `target` itself, is a symlink, each folder
    on the way is a folder, and so is `target` if it is there, where export writes a `folder`:
    export never writes through a link."""
    link = link_on_the_way(site, target)
    if link is not None:
        raise ExportError(f"{link} is a link: dreamtrip does not write through links; "
                          "replace it with a folder (or a file) of its own")
    parts = PurePosixPath(target).parts
    for depth in range(1, len(parts) + 1):
        path = site.joinpath(*parts[:depth])
        if (depth < len(parts) or folder) and os.path.lexists(path) and not path.is_dir():
            raise ExportError(f"{path} is a file where the post needs a folder: move it out of the way")
        if depth == len(parts) and not folder and path.is_dir():
            raise ExportError(f"{path} is a folder where the post writes a file: move it out of the way")


# ---------------------------------------------------------------- writing


def export_post(manifest: Manifest, out_dir: Path, blog: Blog) -> Exported:
    """Write the post of the output folder `out_dir` (whose `manifest` this is) where `blog`
    says: plan_export's decision, made before a run's dreaming or just now.

    Everything is checked before anything is written (ExportError): the place again, as the
    site may have changed since it was planned. The caller holds the output folder's lock, so
    the files copied are the ones the manifest names.
    """
    site, out_dir = blog.site, Path(out_dir)
    check_site(blog.engine.name, site)
    _check_own_place(blog, record_of(site))
    adopt_earlier_release(out_dir, record_of(out_dir))   # a folder made before the record: its files
    view, _ = page_view(manifest)
    dialect = blog.dialect()
    text = render_post(view, dialect).encode("utf-8")
    # What the post links is what it shows: the only files copied (no AVIF twin, nothing hidden).
    copies = {blog.copy_of(path): path for path in dialect.used}
    post_file = blog.post_file(_day(view["post_date"]))
    _check_sources(out_dir, list(dialect.used))
    record = record_of(site)
    _check_targets(site, record, [*copies, post_file])

    if not record.claim(blog.claim, blog.owner):
        raise ExportError(f"{site / blog.pictures}: another album's export took this place meanwhile: "
                          "export again")
    written_in_out = record_of(out_dir)
    for target, path in copies.items():
        written = written_in_out.get(path)   # checked by hash above
        if record.get(target) != written or not os.path.lexists(site / target):  # else: the same bytes
            record.copy(out_dir / path, target, written=written)
    record.write_bytes(post_file, text)   # last: when it is there, what it links is too
    exported = Exported(site / post_file, len(copies), blog.slug, blog.taken)
    _remove_earlier(blog, record, {*copies, post_file}, exported)
    record.compact()
    return exported


def _day(value: date | datetime | None) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value or date.today()


def _check_sources(out_dir: Path, paths: list[str]) -> None:
    """The files the post links are in the output folder as dreamtrip wrote them (sha256):
    nothing damaged, replaced or planted is published."""
    record = record_of(out_dir)
    for path in paths:
        if not record.intact(path):
            raise ExportError(f"{out_dir / path} is missing, or changed since dreamtrip wrote it: "
                              "`dreamtrip retry ALBUM` makes it again")


def _remove_earlier(blog: Blog, record: FileRecord, now: set[str], exported: Exported) -> None:
    """Delete the files an earlier export of this post (this album's, at this slug) wrote that
    this one does not, if they are still as written; a changed one is left where it is, and
    said. Another album's post has another slug: never looked at here."""
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
    top = PurePosixPath(blog.pictures)
    for name in gone:
        folder = PurePosixPath(name).parent
        while folder == top or top in folder.parents:
            try:
                (blog.site / folder).rmdir()   # only when empty
            except OSError:
                break
            folder = folder.parent
