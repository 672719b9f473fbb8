"""The traveller's story text (album.yaml's intro, outro and stories, and sidecar .md files):
Markdown, made safe for the page and for the Markdown post.

Safe means: no raw HTML gets through (a `<script>` in a story shows as text), links only go to
http(s), mailto or relative addresses (never `javascript:`), and nothing in a story makes the
page load anything (an image in a story becomes a link to it: the page stays self-contained).
"""

from __future__ import annotations

import html
import re
from xml.etree.ElementTree import Element

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

_SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore these anywhere in a URL's scheme ("java\tscript:" is javascript:).
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]")
# The page's own headings are h1 (title) and h2 (days): a story's "# heading" sits below them.
_HEADING_SHIFT = 2


def is_safe_url(url: str) -> bool:
    """True for http(s), mailto and relative URLs; False for javascript:, data:, and the like."""
    text = str(url)
    for _ in range(3):  # entities inside entities: "&amp;#106;avascript:"
        text = html.unescape(text)
    text = _URL_IGNORED.sub("", text)
    scheme = _SCHEME.match(text)
    if scheme:
        return scheme.group(1).lower() in _SAFE_SCHEMES
    # No scheme: a relative path or fragment, unless a colon before the path could be read as one.
    return ":" not in re.split(r"[/?#]", text, maxsplit=1)[0]


# ---------------------------------------------------------------- HTML for the page


class _NoRawHtml(Extension):
    """Raw HTML in the Markdown is treated as text, so the serializer escapes it."""

    def extendMarkdown(self, md):
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After 'unescape' (priority 0): by then backslash escapes are back in the URLs, so
        # "javascript\:alert(1)" is checked as what the browser would get.
        md.treeprocessors.register(_MakeSafe(md), "dreamtrip_safe", -10)


class _MakeSafe(Treeprocessor):
    def run(self, root: Element) -> None:
        for element in root.iter():
            if element.tag == "a":
                _keep_link_if_safe(element)
            elif element.tag == "img":
                _image_to_link(element)
            elif re.fullmatch(r"h[1-6]", element.tag):
                element.tag = f"h{min(6, int(element.tag[1]) + _HEADING_SHIFT)}"


def _keep_link_if_safe(a: Element) -> None:
    if not is_safe_url(a.get("href", "")):
        a.tag = "span"
        a.attrib.clear()


def _image_to_link(img: Element) -> None:
    src, alt = img.get("src", ""), img.get("alt") or img.get("src", "")
    img.attrib.clear()
    img.text = alt
    img.tag = "a" if is_safe_url(src) else "span"
    if img.tag == "a":
        img.set("href", src)


def _markdown() -> markdown.Markdown:
    # smarty: curly quotes and dashes, as a blog's typography has them.
    return markdown.Markdown(extensions=[_NoRawHtml(), "smarty"], output_format="html")


def story_html(text) -> Markup:
    """The story rendered to HTML that is safe to put in the page as is."""
    if not text or not str(text).strip():
        return Markup("")
    return Markup(_markdown().convert(str(text).strip()))


def story_plain(text) -> str:
    """The story as plain text, Markdown syntax gone: for alt text."""
    return story_html(text).striptags()


def first_paragraph(text) -> str | None:
    """The story's first paragraph, as Markdown."""
    for paragraph in re.split(r"\n\s*\n", str(text or "").strip()):
        if paragraph.strip():
            return paragraph.strip()
    return None


# ---------------------------------------------------------------- Markdown for post.md


# "[text](destination" and "[label]: destination", the two places a Markdown link's URL sits.
# A destination may hold balanced parentheses: "(https://en.wikipedia.org/wiki/Vltava_(river))".
_INLINE_LINK = re.compile(r"(\]\(\s*)((?:[^\s()]|\([^\s()]*\))+)")
_LINK_DEFINITION = re.compile(r"^( {0,3}\[[^\]]+\]:[ \t]*)(\S+)", re.MULTILINE)


def _safe_destination(match: re.Match) -> str:
    return match.group(1) + (match.group(2) if is_safe_url(match.group(2)) else "#")


def story_markdown(text) -> str:
    """The story as Markdown for post.md: kept as Markdown, but with no raw HTML and no unsafe
    link. Hugo drops raw HTML by default but Jekyll passes it, so '<' and '>' are escaped here
    (inside a `code span` that shows as &lt;: the price of never passing a tag through). '&'
    stays: an entity is text, not markup, and the page renders "&amp;" as "&" too."""
    if not text or not str(text).strip():
        return ""
    text = str(text).strip().replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE_LINK.sub(_safe_destination, text)
    return _LINK_DEFINITION.sub(_safe_destination, text)
