"""The traveller's story text (album.yaml's intro, outro and stories, and sidecar .md files):
Markdown, made safe for the page and for the Markdown post.

Safe means: no raw HTML gets through (a `<script>` in a story shows as text), links only go to
http(s), mailto or relative addresses (never `javascript:`), and nothing in a story makes the
page load anything (an image in a story becomes a link to it: the page stays self-contained).

Both outputs come from one parse (markdown-it-py, CommonMark): links are judged on the parse
tree, where a link definition has already been resolved into the link that uses it, however it
was written (indented in a list, its URL on the next line...). The page gets the tree as HTML;
post.md gets the same tree written back as plain CommonMark, in which every piece of the
traveller's text is escaped, every link is inline with its checked URL, and no Liquid tag
(`{%`, `{{`) survives for Jekyll to run.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
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


# ---------------------------------------------------------------- the parse, made safe


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # html off: a tag in a story is text. typographer: curly quotes and dashes, as a blog has them.
    md = MarkdownIt("commonmark", {"html": False, "typographer": True, "xhtmlOut": False})
    md.enable(["replacements", "smartquotes"])
    # markdown-it's own check would leave an unsafe link as literal "[x](javascript:...)" text,
    # which post.md would then carry; every link reaches the tree instead and is judged there.
    md.validateLink = lambda url: True
    return md


def _safe_tokens(text: str) -> list[Token]:
    tokens = _parser().parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + _HEADING_SHIFT)}"
        if token.children:
            token.children = _safe_inline(token.children)
    return tokens


def _safe_inline(tokens: list[Token], in_link: int = 0) -> list[Token]:
    """Unsafe links lose their address and keep their text; an image becomes a link to it
    (its alt text as the words), or only its words when unsafe. Inside a link (an autolink in
    a link's text, a link in an image's alt text) only the words stay: links do not nest."""
    safe, kept_links = [], []
    for token in tokens:
        if token.type == "link_open":
            kept = not in_link and is_safe_url(token.attrGet("href") or "")
            kept_links.append(kept)
            in_link += 1
            if kept:
                safe.append(token)
        elif token.type == "link_close":
            in_link -= 1
            if kept_links.pop():
                safe.append(token)
        elif token.type == "image":
            safe += _image_as_link(token, in_link > 0)
        else:
            safe.append(token)
    return safe


def _image_as_link(image: Token, in_link: bool) -> list[Token]:
    src = image.attrGet("src") or ""
    words = _safe_inline(image.children or [], in_link=1) or [Token("text", "", 0, content=src)]
    if in_link or not is_safe_url(src):
        return words
    return [Token("link_open", "a", 1, attrs={"href": src}), *words, Token("link_close", "a", -1)]


def _tree(text) -> SyntaxTreeNode | None:
    if not text or not str(text).strip():
        return None
    return SyntaxTreeNode(_safe_tokens(str(text).strip()))


# ---------------------------------------------------------------- HTML for the page


def story_html(text) -> Markup:
    """The story rendered to HTML that is safe to put in the page as is."""
    if not text or not str(text).strip():
        return Markup("")
    md = _parser()
    return Markup(md.renderer.render(_safe_tokens(str(text).strip()), md.options, {}).strip())


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

# Text that must read as text in every renderer post.md meets (CommonMark, Hugo's goldmark,
# Jekyll's kramdown, which runs Liquid over the file first):
# - '<' and '>' as entities: Jekyll passes raw HTML through.
# - '{' as an entity: Liquid sees no "{%" or "{{" (a backslash does not stop it: "\{%" is
#   still a tag), and kramdown no "{:" attribute list. Every renderer shows "&#123;" as "{".
# - '&' as an entity only where it would start one ("&amp;" must not become "&").
# - the characters that make emphasis, code, links, tables or strikethrough, and kramdown's
#   "$$" maths, backslash-escaped.
_ENTITY_START = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]}|~])")
# What only means something at the start of a line: headings, list items, setext underlines,
# ordered-list numbers ("1." or "1)"), kramdown's definition lists (": ").
_LINE_START = re.compile(r"^([#+\-=:])|^(\d+)([.)])(?=\s|$)", re.MULTILINE)
# Liquid's two openers: code (where no escape works) that holds one is written as plain text.
_LIQUID = re.compile(r"\{[%{]")


def escape_text(text: str) -> str:
    """One run of text, escaped so every Markdown renderer shows it literally (no line starts:
    see escape_line_starts)."""
    text = _ENTITY_START.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE_SPECIAL.sub(r"\\\1", text.replace("{", "&#123;"))
    return text.replace("$$", r"\$\$")


def escape_line_starts(text: str) -> str:
    """Escape what would make a line of `text` a heading, a list item or an underline."""
    return _LINE_START.sub(
        lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), text)


def story_markdown(text) -> str:
    """The story as Markdown for post.md: the parsed story written back, with no raw HTML, no
    unsafe link and no Liquid; it renders as the page's story does."""
    tree = _tree(text)
    return _blocks(tree.children) if tree else ""


def _blocks(nodes: list[SyntaxTreeNode], tight: bool = False) -> str:
    return ("\n" if tight else "\n\n").join(_block(node) for node in nodes)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return escape_line_starts(_inline(node.children[0]))
    if kind == "heading":
        # A heading's closing '#'s are not text: text that ends in '#' keeps it escaped.
        words = re.sub(r"#+$", r"\\\g<0>", _inline(node.children[0]).replace("\n", " "))
        return "#" * int(node.tag[1]) + " " + words
    if kind == "blockquote":
        return "\n".join(f"> {line}" if line else ">" for line in _blocks(node.children).split("\n"))
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind in ("code_block", "fence"):
        return _code_block(node)
    if kind == "hr":
        return "* * *"
    return escape_line_starts(escape_text(node.content))  # nothing else is parsed with html off


def _list(node: SyntaxTreeNode) -> str:
    tight = all(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    start = int(node.attrs.get("start", 1))
    items = []
    for number, item in enumerate(node.children, start):
        marker = f"{number}{node.markup}" if node.type == "ordered_list" else node.markup
        if not item.children:  # kramdown shows a lone marker as text: an empty item is left out
            continue
        body = _blocks(item.children, tight).split("\n")
        indent = " " * (len(marker) + 1)
        lines = [f"{marker} {body[0]}" if body[0] else marker]
        lines += [indent + line if line else "" for line in body[1:]]
        items.append("\n".join(lines))
    return ("\n" if tight else "\n\n").join(items)


def _code_block(node: SyntaxTreeNode) -> str:
    code = node.content if node.content.endswith("\n") or not node.content else node.content + "\n"
    if _LIQUID.search(code):  # inside code an entity would show as "&#123;": plain lines instead
        lines = [line.strip() for line in code.split("\n") if line.strip()]
        return "  \n".join(escape_line_starts(escape_text(line)) for line in lines)
    fence = "`" * max(3, _longest_run(code, "`") + 1)
    info = re.sub(r"[^\w+#.-]", "", (node.info or "").split(" ")[0])
    return f"{fence}{info}\n{code}{fence}"


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)


def _inline(node: SyntaxTreeNode) -> str:
    return "".join(_span(child) for child in node.children)


def _span(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "text":  # a '!' just before a link would make it an image
        return re.sub(r"!$", r"\\!", escape_text(node.content))
    if kind == "softbreak":
        return "\n"
    if kind == "hardbreak":
        return "  \n"  # two spaces: the one hard break kramdown, goldmark and CommonMark share
    if kind in ("em", "strong"):  # '*' where the traveller may have written '_': it also works inside words
        mark = "*" if kind == "em" else "**"
        return f"{mark}{_inline(node)}{mark}"
    if kind == "code_inline":
        return _code_span(node.content)
    if kind == "link":
        title = node.attrs.get("title")
        title = f' "{escape_text(str(title)).replace(chr(34), "&quot;")}"' if title else ""
        return f"[{_inline(node)}]({_destination(str(node.attrs.get('href', '')))}{title})"
    return escape_text(node.content)


def _code_span(code: str) -> str:
    if _LIQUID.search(code):
        return escape_text(code)
    ticks = "`" * (_longest_run(code, "`") + 1)
    # One space each side is taken off again, unless the code is only spaces.
    pad = " " if code.strip(" ") and (code.startswith(("`", " ")) or code.endswith(("`", " "))) else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _destination(href: str) -> str:
    """The link's URL as an inline destination. The parser has percent-encoded spaces, '<', '>'
    and braces; unbalanced parentheses would end it early, so they are encoded too."""
    depth = 0
    for char in href:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        href = href.replace("(", "%28").replace(")", "%29")
    return href
