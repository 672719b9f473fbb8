"""Story text is Markdown: rendered for the page with no raw HTML and no unsafe links, and
kept as Markdown for post.md with the same guarantees, whatever renders post.md."""

import re

import pytest
from markdown_it import MarkdownIt

from pipeline.post.story import first_paragraph, is_safe_url, story_html, story_markdown, story_plain


def commonmark(markdown: str) -> str:
    """post.md as a CommonMark renderer that trusts every link makes it (what a static site
    generator with no sanitiser of its own does)."""
    md = MarkdownIt("commonmark", {"xhtmlOut": False})
    md.validateLink = lambda url: True
    return md.render(markdown).strip()


def links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]*)"', html)


@pytest.mark.parametrize("url", [
    "https://example.org/a?b=1&c=2", "http://x.y", "mailto:me@example.org", "#photo-1",
    "../vienna/", "page.html", "//example.org/protocol-relative", "a/b:c",
])
def test_safe_urls(url):
    assert is_safe_url(url)


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "java&#115;cript:alert(1)", "&#106;avascript:alert(1)", "java&amp;#115;cript:alert(1)",
    "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd",
    "c:/windows",
])
def test_unsafe_urls(url):
    assert not is_safe_url(url)


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<div onclick=alert(1)>\nblock\n</div>",
    "<!-- <script>alert(1)</script> -->",
    "<a href='javascript:alert(1)'>x</a>",
])
def test_raw_html_is_shown_as_text(text):
    html = str(story_html(text))
    assert "<script" not in html and "<img" not in html and "<div" not in html
    assert "<a " not in html and "<!--" not in html
    assert "&lt;" in html


UNSAFE_LINKS = [
    "[x](javascript:alert(1))",
    "[x](java&#115;cript:alert(1))",
    "[x](javascript\\:alert(1))",            # a backslash escape, undone before the check
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](JAVA\tSCRIPT:alert(1))",
    "[x](vbscript:msgbox(1)) [y](data:text/html,x)",
]
# The four shapes that got past the old regular-expression sanitiser into post.md: a link
# definition whose URL is on the next line, one indented inside a list item, one after `* `,
# and one under a numbered item.
DEFINITION_SHAPES = [
    "[x]:\n  javascript:alert(1)\n\nSee [the map][x].",
    "- a list item\n\n  [x]: javascript:alert(1)\n\n  See [the map][x].",
    "* [x]: javascript:alert(1)\n\nSee [the map][x].",
    "1. a numbered item\n\n   [x]: javascript:alert(1)\n\nSee [the map][x].",
    "1. a numbered item\n   [x]: javascript:alert(1)\n\n   See [the map][x].",
]


@pytest.mark.parametrize("text", UNSAFE_LINKS + DEFINITION_SHAPES)
def test_unsafe_links_lose_their_address_on_the_page_and_in_the_post(text):
    page = str(story_html(text))
    post = commonmark(story_markdown(text))
    for html in (page, post):
        assert not [url for url in links(html) if not is_safe_url(url)], html
        assert "<a " not in html and "<img" not in html, html


@pytest.mark.parametrize("text", DEFINITION_SHAPES)
def test_the_words_of_an_unsafe_link_stay(text):
    assert "the map" in story_plain(text) and "the map" in commonmark(story_markdown(text))


def test_safe_link_definitions_become_inline_links_wherever_they_are():
    text = "- item\n\n  [osm]:\n    https://osm.org/x\n\n  See [the map][osm] and [osm]."
    assert story_markdown(text) == "- item\n\n  See [the map](https://osm.org/x) and [osm](https://osm.org/x)."


# What a traveller writes, and what Liquid (Jekyll runs it over post.md first) would run.
LIQUID = [
    "The sign said {% include secrets.html %} and {{ site.github.token }}.",
    "A `{% raw %}` tag, and a `{{ x }}` one",
    "```\n{% for x in site.posts %}{{ x.title }}{% endfor %}\n```",
    "- {{ page.title }}\n  - {%- comment -%}\n\n> {{{ triple }}} {%% odd %%}",
    "[{% link x %}](https://example.org/a?b={{c}}) {:.class} {::comment}",
]


@pytest.mark.parametrize("text", LIQUID)
def test_liquid_is_inert_in_the_post_and_shown_as_written(text):
    post = story_markdown(text)
    assert "{%" not in post and "{{" not in post and "{:" not in post
    rendered = commonmark(post)
    for opener in re.findall(r"\{[%{:]", text):  # every renderer shows the traveller's braces
        assert opener in rendered or opener in rendered.replace("%7B", "{")


# Stories as travellers write them: post.md says what the page says.
STORIES = [
    'A *big* **door**, "old" -- see [map](https://osm.org/x).\n\nSecond.',
    "# Arrival\n\n## Tram\n\nWe took the 22.\n1999. A year.\n2016) another",
    "- one\n- two\n  - nested *a*\n- three\n\n1. first\n2. second\n\n3) three\n4) four",
    "- loose\n\n- list\n\n  with two paragraphs",
    "> A quote\n> - with a list\n>\n> and more",
    "Code `a < b` and ``a ` tick`` and\n\n```python\nprint('<b>')\n```\n\n    indented code",
    "Line  \nbreak, 5 * 3 = 15, snake_case, [brackets], a|b, ~tilde~, $$x$$, C#",
    "# Heading ending in #\n\nTrailing hash #",
    "Autolink <https://example.org/a_b> and ![a photo](https://example.org/b.jpg) and &amp; &copy;",
    "* * *\n\n+ plus list\n\n---\n\nSetext\n===\n\nText: with colon\n: not a definition",
    "[Vltava](https://en.wikipedia.org/wiki/Vltava_(river)) [odd](https://x.y/a(b) [t](/x \"a title\")",
    "Tom & Jerry, AT&T, 1 < 2 > 0, <b>not bold</b>, <!-- no comment -->",
]


@pytest.mark.parametrize("text", STORIES)
def test_the_post_renders_as_the_page_does(text):
    assert commonmark(story_markdown(text)) == str(story_html(text))


def test_markdown_is_rendered():
    html = str(story_html('A *big* **door**, "old" -- see [map](https://osm.org/x).\n\nSecond.'))
    assert html == ('<p>A <em>big</em> <strong>door</strong>, “old” – see '
                    '<a href="https://osm.org/x">map</a>.</p>\n<p>Second.</p>')


def test_headings_sit_below_the_pages_own():
    assert str(story_html("# Arrival\n\n## Tram")) == "<h3>Arrival</h3>\n<h4>Tram</h4>"
    assert story_markdown("# Arrival\n\n## Tram") == "### Arrival\n\n#### Tram"


def test_images_become_links_so_the_page_loads_nothing_else():
    assert str(story_html("![the bridge](https://example.org/b.jpg)")) == \
        '<p><a href="https://example.org/b.jpg">the bridge</a></p>'
    assert story_markdown("![the bridge](https://example.org/b.jpg)") == \
        "[the bridge](https://example.org/b.jpg)"


def test_plain_text_and_first_paragraph():
    text = "A *big* [door](https://x.y) & <b>.\n\nSecond paragraph."
    assert first_paragraph(text) == "A *big* [door](https://x.y) & <b>."
    assert story_plain(first_paragraph(text)) == "A big door & <b>."
    assert first_paragraph("  \n\n ") is None and story_plain(None) == ""


def test_markdown_for_the_post_keeps_markdown_but_no_html():
    text = "A *big* [door](https://en.wikipedia.org/wiki/Door_(architecture)) <b>bold</b> & more"
    assert story_markdown(text) == \
        "A *big* [door](https://en.wikipedia.org/wiki/Door_(architecture)) &lt;b&gt;bold&lt;/b&gt; & more"
    assert story_markdown("[a](data:text/html,x) [b]: vbscript:x") == "a \\[b\\]: vbscript:x"
    assert story_markdown("[b]: vbscript:x") == ""
    assert story_markdown(None) == "" and str(story_html("   ")) == ""


@pytest.mark.parametrize("text", ["[a <https://x.y> b](https://z)", "![a [b](https://c) ![d](e.png)](f.png)"])
def test_links_never_nest(text):
    for html in (str(story_html(text)), commonmark(story_markdown(text))):
        assert html.count("<a ") == 1, html
