"""Blog themes and the post's cover: which front-matter keys each theme reads for a post's
picture, in what shape, resolved against what; the one table of it (docs/themes.md says how it
was surveyed, from each theme's own templates).

A post names its cover once per theme's way of asking: a page resource's name (the bundle's
`photos/x.jpg`: Hugo themes that call `.Resources.GetMatch`), a path from the site's root for
themes that pass it to `relURL`/`absURL` (Hugo's `posts/<slug>/photos/x.jpg`; Jekyll's
`/assets/<slug>/photos/x.jpg`, to which `relative_url` adds the baseurl), or PaperMod's
`cover.image` with `relative: true`, which makes its `og:image` the page's own file.

The keys collide: PaperMod's `cover` is a mapping, Terminal's and hello-friend-ng's a string
(a mapping there stops the build). So export reads which theme the site uses (its
configuration's `theme`, `remote_theme`) and writes that theme's keys; a theme not in the table
gets GENERIC, the keys no theme in the table reads in another shape. Where the theme shows no
cover on the post (minima; an unknown theme whose templates read none of GENERIC's keys) the
post itself opens with the cover photo: once, never beside the theme's own.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

# What a key's value is: the cover as a page resource (its path in the bundle), as a path from
# the site's root, as a list of either, its alt text, or a fixed value.
RESOURCE, SITE, RESOURCES, ALT = "resource", "site", "resources", "alt"


@dataclass(frozen=True)
class Theme:
    """One theme's way of naming a post's picture: a row of THEMES."""

    name: str                    # as a site's configuration names it (lower case, no `hugo-theme-`)
    engine: str
    keys: tuple[tuple[str, object], ...]   # (dotted key, RESOURCE | SITE | RESOURCES | ALT | a value)
    shows: bool                  # the theme shows it at the top of the post (else: link previews only)
    read_in: str                 # the template that reads it (the survey's evidence)


# Hugo's own Open Graph, Twitter card and schema templates, which most themes include:
# `images`, each looked up among the page's resources, else absURL.
HUGO_SHARE = (("images", RESOURCES),)
# Jekyll's SEO tag (`{% seo %}`, in minima and most themes): `image` or `image.path`, absolute_url.
JEKYLL_SHARE = (("image.path", SITE), ("image.alt", ALT))

THEMES = {theme.name: theme for theme in (
    Theme("papermod", "hugo", (("cover.image", RESOURCE), ("cover.alt", ALT), ("cover.relative", True)),
          True, "layouts/_partials/cover.html, templates/opengraph.html (relative: page's path + image)"),
    Theme("ananke", "hugo", (("featured_image", RESOURCE),), True,
          "layouts/_partials/func/GetFeaturedImage.html (Resources.GetMatch, else absURL)"),
    Theme("terminal", "hugo", (("cover", RESOURCE),), True,
          "layouts/partials/cover.html, head.html (Resources.GetMatch, else absURL)"),
    Theme("hello-friend-ng", "hugo", (("cover", SITE),), True,
          "layouts/posts/single.html (`.Params.Cover | absURL`)"),
    Theme("coder", "hugo", (("featuredImage", SITE),), True,
          "layouts/posts/single.html (`.Params.featuredImage | relURL`)"),
    Theme("stack", "hugo", (("image", RESOURCE),), True,
          "layouts/_partials/helper/image.html (Resources.GetMatch, else the URL as given)"),
    Theme("loveit", "hugo", (("featuredImage", RESOURCE),), True,
          "layouts/posts/single.html, _partials/plugin/img.html (with the page's Resources)"),
    Theme("congo", "hugo", (("feature", RESOURCE),), True,
          "layouts/_default/single.html (`$images.GetMatch .Params.feature`)"),
    Theme("clarity", "hugo", (("featureImage", RESOURCE), ("featureImageAlt", ALT), ("thumbnail", RESOURCE),
                              ("usePageBundles", True)), True,
          "layouts/_default/single.html, partials/image.html (bundle when usePageBundles)"),
    Theme("beautifulhugo", "hugo", (("bigimg", [{"src": SITE, "desc": ALT}]),), True,
          "layouts/partials/header.html (`$img.src | relURL`)"),
    Theme("minima", "jekyll", (), False, "_layouts/post.html shows no picture; {% seo %} reads image"),
    Theme("jekyll-theme-chirpy", "jekyll", (("image.path", SITE), ("image.alt", ALT)), True,
          "_layouts/post.html (`page.image.path`)"),
    Theme("minimal-mistakes", "jekyll", (("header.image", SITE), ("header.teaser", SITE),
                                         ("header.og_image", SITE)), True,
          "_includes/page__hero.html (`page.header.image | relative_url`)"),
    Theme("beautiful-jekyll", "jekyll", (("cover-img", SITE), ("thumbnail-img", SITE), ("share-img", SITE)),
          True, "_includes/header.html (`page.cover-img | relative_url`)"),
)}
# A theme of the same name under another spelling: `hugo-PaperMod`, `hugo-theme-stack`, a module path.
_ALIASES = {"hugo-coder": "coder", "beautiful-hugo": "beautifulhugo", "minimal-mistakes-jekyll": "minimal-mistakes",
            "chirpy": "jekyll-theme-chirpy", "beautiful-jekyll-theme": "beautiful-jekyll"}

# An unknown theme (or none: the output folder's post.md) gets the keys no theme above reads in
# another shape: PaperMod's `cover` mapping (a theme reading `cover` as a string is in the table),
# Ananke's featured_image, Stack's image.
GENERIC = {
    "hugo": Theme("", "hugo", THEMES["papermod"].keys + THEMES["ananke"].keys + THEMES["stack"].keys, True, ""),
    "jekyll": Theme("", "jekyll", (), False, ""),
}
# How a theme's template reads a key: `.Params.cover`, `$.Params.image`, `.Param "cover"`, `page.image`.
_READS = r"(?:Params\.{key}\b|Param \"{key}\"|page\.{key}\b)"


def theme_of(engine: str, site: Path) -> Theme:
    """The theme `site` (a site of `engine`) uses, as THEMES has it; GENERIC if none there."""
    for name in _named_themes(engine, Path(site)):
        key = re.sub(r"^(hugo-theme-|hugo-)", "", name.strip().rstrip("/").rsplit("/", 1)[-1].split("@")[0].lower())
        for spelling in (key, _ALIASES.get(key), _ALIASES.get(name.lower())):
            if spelling in THEMES and THEMES[spelling].engine == engine:
                return THEMES[spelling]
    return _unknown(engine, Path(site))


def _named_themes(engine: str, site: Path) -> list[str]:
    """The themes the site's configuration names (Hugo's `theme`, a name or a list; Jekyll's
    `theme` and `remote_theme`). A configuration it cannot read names none."""
    names: list[str] = []
    for config in _configs(engine, site):
        try:
            text = config.read_text(encoding="utf-8")
            data = (tomllib.loads(text) if config.suffix == ".toml" else
                    json.loads(text) if config.suffix == ".json" else yaml.safe_load(text))
        except (OSError, ValueError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        for field in ("theme", "remote_theme"):
            value = data.get(field)
            names += [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)] \
                if isinstance(value, list) else []
    return names


def _configs(engine: str, site: Path) -> list[Path]:
    if engine == "jekyll":
        return [site / name for name in ("_config.yml", "_config.yaml", "_config.toml") if (site / name).is_file()]
    tops = [site / f"{stem}.{ext}" for stem in ("hugo", "config") for ext in ("toml", "yaml", "yml", "json")]
    return [path for path in [*tops, *sorted((site / "config" / "_default").glob("*.*"))] if path.is_file()]


def _unknown(engine: str, site: Path) -> Theme:
    """GENERIC for a theme not in the table; showing the cover only if its templates (where the
    site has them: themes/NAME/layouts, the site's own layouts) read one of GENERIC's keys."""
    generic = GENERIC[engine]
    folders = [site / "layouts", *(site / "themes").glob("*/layouts")] if engine == "hugo" else \
        [site / "_layouts", site / "_includes"]
    keys = {key.split(".")[0] for key, _ in generic.keys}
    reads = re.compile("|".join(_READS.format(key=re.escape(key)) for key in keys)) if keys else None
    shows = reads is not None and any(reads.search(_text(path)) for folder in folders if folder.is_dir()
                                      for path in folder.rglob("*.htm*"))
    return Theme(generic.name, engine, generic.keys, shows, generic.read_in)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cover_matter(theme: Theme, resource: str, site_path: str, alt: str) -> dict:
    """The front matter that names the cover in `theme`'s way (and the engine's share
    templates'), as a nested dict; `resource` is the cover's path in the bundle, `site_path`
    from the site's root, `alt` its alt text, each already as front matter holds it."""
    share = HUGO_SHARE if theme.engine == "hugo" else JEKYLL_SHARE
    values = {RESOURCE: resource, SITE: site_path, RESOURCES: [resource], ALT: alt}
    data: dict = {}
    for key, kind in (*theme.keys, *share):
        *parents, last = key.split(".")
        place = data
        for parent in parents:
            place = place.setdefault(parent, {})
        if not isinstance(place, dict) or last in place:
            continue   # the theme's own shape wins over the share templates'
        place[last] = _value(kind, values)
    return data


def _value(kind, values: dict):
    if isinstance(kind, list):
        return [_value(item, values) for item in kind]
    if isinstance(kind, dict):
        return {key: _value(item, values) for key, item in kind.items()}
    return values.get(kind, kind) if isinstance(kind, str) else kind
