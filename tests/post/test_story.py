"""Story text is Markdown: rendered for the page with no raw HTML and no unsafe links, and
kept as Markdown for post.md with the same guarantees."""

import pytest

from pipeline.post.story import first_paragraph, is_safe_url, story_html, story_markdown, story_plain


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


@pytest.mark.parametrize("text", [
    "[x](javascript:alert(1))",
    "[x](java&#115;cript:alert(1))",
    "[x](javascript\\:alert(1))",            # a backslash escape, undone before the check
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
])
def test_unsafe_links_lose_their_address(text):
    html = str(story_html(text))
    assert "javascript" not in html.replace("&lt;javascript:alert(1)&gt;", "")
    assert "href" not in html
    assert "javascript:" not in story_markdown(text).replace("&lt;javascript:alert(1)&gt;", "")


def test_markdown_is_rendered():
    html = str(story_html('A *big* **door**, "old" -- see [map](https://osm.org/x).\n\nSecond.'))
    assert html == ('<p>A <em>big</em> <strong>door</strong>, &ldquo;old&rdquo; &ndash; see '
                    '<a href="https://osm.org/x">map</a>.</p>\n<p>Second.</p>')


def test_headings_sit_below_the_pages_own():
    assert str(story_html("# Arrival\n\n## Tram")) == "<h3>Arrival</h3>\n<h4>Tram</h4>"


def test_images_become_links_so_the_page_loads_nothing_else():
    assert str(story_html("![the bridge](https://example.org/b.jpg)")) == \
        '<p><a href="https://example.org/b.jpg">the bridge</a></p>'


def test_plain_text_and_first_paragraph():
    text = "A *big* [door](https://x.y) & <b>.\n\nSecond paragraph."
    assert first_paragraph(text) == "A *big* [door](https://x.y) & <b>."
    assert story_plain(first_paragraph(text)) == "A big door & <b>."
    assert first_paragraph("  \n\n ") is None and story_plain(None) == ""


def test_markdown_for_the_post_keeps_markdown_but_no_html():
    text = "A *big* [door](https://en.wikipedia.org/wiki/Door_(architecture)) <b>bold</b> & more"
    assert story_markdown(text) == \
        "A *big* [door](https://en.wikipedia.org/wiki/Door_(architecture)) &lt;b&gt;bold&lt;/b&gt; & more"
    assert story_markdown("[a](data:text/html,x) [b]: vbscript:x") == "[a](#) [b]: vbscript:x"
    assert story_markdown("[b]: vbscript:x") == "[b]: #"
    assert story_markdown(None) == "" and str(story_html("   ")) == ""
