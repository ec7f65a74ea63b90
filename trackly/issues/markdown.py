"""Issue descriptions: Markdown rendered to HTML, then sanitized, so a client may insert it as-is.

Two layers: markdown-it-py with raw HTML disabled (HTML in the source is shown as text), then
nh3 (ammonia) with an allowlist of tags, attributes and URL schemes. No script, style, iframe,
event handler, `javascript:` or `data:` URL survives either layer.

No image is ever embedded: `![alt](url)` becomes a link to the image. An embedded remote image
would be fetched by every reader's browser from a server the author chose (read receipts, IP
addresses, a tracking pixel per viewer); a link is fetched only by whoever clicks it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
# Only these URL schemes survive in href/src (relative URLs stay; data:, javascript: do not).
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow ugc"
# Drop these elements together with their content rather than keeping the inner text.
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "svg", "math", "template"})

_CACHE_SIZE = 2048


@lru_cache(maxsize=1)
def _renderer() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_link)
    return md


def _image_as_link(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """`![alt](src "title")` -> `<a href="src">alt</a>` (the sanitizer then vets the URL)."""
    from markdown_it.common.utils import escapeHtml

    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escapeHtml(src)}">{escapeHtml(alt)}</a>'


def sanitize(html: str) -> str:
    import nh3

    return str(
        nh3.clean(
            html,
            tags=set(ALLOWED_TAGS),
            clean_content_tags=set(DROP_WITH_CONTENT),
            attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
            url_schemes=set(ALLOWED_URL_SCHEMES),
            link_rel=LINK_REL,
            strip_comments=True,
        )
    )


@lru_cache(maxsize=_CACHE_SIZE)
def render(markdown: str) -> str:
    """Markdown -> safe HTML (pure, so results are cached per description text)."""
    if not markdown.strip():
        return ""
    return sanitize(_renderer().render(markdown))
