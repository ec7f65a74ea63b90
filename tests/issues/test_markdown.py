"""description_html: Markdown rendered and sanitized; no XSS payload survives either layer."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.issues.helpers import new_issue
from tests.support.api import Api
from trackly.issues import markdown

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src=x onerror="alert(1)">',
    "<img src=x oNeRrOr=alert(1)//",
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="width: expression(alert(1))">x</p>',
    "<style>@import 'http://evil.example/x.css';</style>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    "<!--<img src=x onerror=alert(1)>-->",
    '<a href="#" onclick="alert(1)">x</a>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    '<img src="x" alt="&quot; onerror=&quot;alert(1)">',
    "<template><img src=x onerror=alert(1)></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    # Markdown-level vectors
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](&#x6A;avascript:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](data:image/png;base64,iVBORw0KGgo=)",
    "![img](javascript:alert(1))",
    '[click](https://ok.example "title\\" onmouseover=\\"alert(1)")',
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
]

SAFE_SCHEMES = {"http", "https", "mailto", ""}


class Inspector(HTMLParser):
    """Collects every tag and attribute a browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, name, value) for name, value in attrs)


def assert_safe(html: str) -> None:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    assert set(inspector.tags) <= markdown.ALLOWED_TAGS, (inspector.tags, html)
    for tag, name, value in inspector.attrs:
        assert not name.startswith("on"), html
        assert name not in ("style", "srcdoc", "formaction", "action"), html
        assert name in markdown.ALLOWED_ATTRIBUTES.get(tag, set()) or (tag, name) == ("a", "rel"), html
        if name in ("href", "src") and value is not None:
            scheme = urlsplit(value.strip()).scheme.lower()
            assert scheme in SAFE_SCHEMES, html
    # Belt and braces: no dangerous element opens anywhere (escaped text like "&lt;script" is inert).
    lowered = html.lower()
    for needle in ("<script", "<svg", "<iframe", "<style", "<object", "<embed", "<math", "<form", "<base",
                   "<link", "<meta", "<input", "<body", "<details", "<template", "<noscript"):  # fmt: skip
        assert needle not in lowered, html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_rendered_markdown_is_safe(payload: str) -> None:
    assert_safe(markdown.render(payload))
    assert_safe(markdown.render(f"Intro **bold**\n\n{payload}\n\n- item"))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitizer_alone_removes_dangerous_html(payload: str) -> None:
    """The second layer on its own (as if the renderer ever let raw HTML through)."""
    assert_safe(markdown.sanitize(payload))


def test_markdown_features_survive() -> None:
    html = markdown.render(
        "# Title\n\nSome *em* and **strong** and `code` and ~~gone~~.\n\n"
        "- a\n- b\n\n1. one\n\n> quote\n\n```\nx = 1\n```\n\n"
        "[link](https://example.com/path?q=1) ![pic](https://example.com/p.png)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    for fragment in ("<h1>Title</h1>", "<em>em</em>", "<strong>strong</strong>", "<code>code</code>",
                     "<s>gone</s>", "<li>a</li>", "<ol>", "<blockquote>", "<pre><code>x = 1",
                     '<a href="https://example.com/path?q=1" rel="noopener noreferrer nofollow ugc">link</a>',
                     '<a href="https://example.com/p.png" rel="noopener noreferrer nofollow ugc">pic</a>',
                     "<table>", "<td>1</td>"):  # fmt: skip
        assert fragment in html, (fragment, html)
    assert markdown.render("") == ""
    assert markdown.render("   \n ") == ""


def test_api_serves_sanitized_html(as_reporter: Api) -> None:
    issue = new_issue(as_reporter, description="Hi <img src=x onerror=alert(1)> [x](javascript:alert(1))")
    assert_safe(issue["description_html"])
    assert "<img" not in issue["description_html"]
    assert issue["description"].startswith("Hi <img")  # the Markdown source is kept as written
    fetched = as_reporter.get(f"issues/{issue['id']}").json()
    assert fetched["description_html"] == issue["description_html"]


def test_remote_images_are_links_never_embedded() -> None:
    """A reader's browser must not fetch a third party's image just by opening the issue."""
    html = markdown.render('![tracker](https://evil.example/pixel.gif "t") and ![](https://x.example/a.png)')
    assert "<img" not in html
    assert (
        '<a href="https://evil.example/pixel.gif" rel="noopener noreferrer nofollow ugc">tracker</a>' in html
    )
    assert (
        '<a href="https://x.example/a.png" rel="noopener noreferrer nofollow ugc">https://x.example/a.png</a>'
        in html
    )
    assert "<img" not in markdown.sanitize('<img src="https://evil.example/pixel.gif">')
