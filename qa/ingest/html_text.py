"""HTML → plain text: page furniture dropped, blocks kept as paragraphs (the only selectolax user).

The text is what a reader sees in the article: scripts, styles, navigation, banners, footers,
asides, forms and hidden elements go; each block (paragraph, heading, list item, table row, …)
becomes a paragraph of its own, separated by a blank line, so sentences of different blocks never
run together; inline markup joins its text; whitespace runs collapse to one space, as a browser
shows them, except inside ``<pre>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

_DROPPED = (
    "script, style, noscript, nav, footer, aside, form, template, head, svg, iframe, object, "
    "canvas, [role=navigation], [role=banner], [role=contentinfo], [hidden], [aria-hidden=true]"
)
# A <header> inside an article or main holds the article's own headline; elsewhere it is the
# site's banner.
_CONTENT = {"article", "main"}
_BLOCKS = frozenset(
    "address article blockquote body caption dd details dialog div dl dt fieldset figcaption "
    "figure h1 h2 h3 h4 h5 h6 header hgroup hr legend li main ol p pre section summary table "
    "tbody thead tfoot tr ul".split()
)
_CELLS = frozenset({"td", "th"})
_CELL_SEPARATOR = " | "
_SPACE = re.compile(r"\s+")


@dataclass
class _Text:
    """Paragraphs being assembled; ``line`` is the one currently open."""

    paragraphs: list[str] = field(default_factory=list)
    line: list[str] = field(default_factory=list)

    def add(self, words: str) -> None:
        if self.line and self.line[-1].endswith((" ", "\n")) and words.startswith(" "):
            words = words[1:]
        if words:
            self.line.append(words)

    def cell(self) -> None:
        if "".join(self.line).strip():
            self.line.append(_CELL_SEPARATOR)

    def close(self) -> None:
        paragraph = "\n".join(part.strip(" ") for part in "".join(self.line).split("\n")).strip()
        if paragraph:
            self.paragraphs.append(paragraph)
        self.line = []


def html_to_text(html: str) -> tuple[str, str | None]:
    """The visible article text of ``html`` and its title (first ``<h1>``, else ``<title>``)."""
    tree = LexborHTMLParser(html)
    head_title = tree.css_first("title")
    title = _SPACE.sub(" ", head_title.text()).strip() if head_title is not None else ""
    _drop(tree)
    h1 = tree.css_first("h1")
    if h1 is not None and h1.text().strip():
        title = _SPACE.sub(" ", h1.text()).strip()
    out = _Text()
    if tree.body is not None:
        _walk(tree.body, out)
    out.close()
    return "\n\n".join(out.paragraphs), title or None


def _drop(tree: LexborHTMLParser) -> None:
    """Remove the page furniture; only outermost matches, as removing one frees its subtree."""
    doomed = tree.css(_DROPPED) + [h for h in tree.css("header") if not _inside(h, _CONTENT)]
    ids = {node.mem_id for node in doomed}
    outermost = [node for node in doomed if not _has_ancestor(node, ids)]
    for node in outermost:
        node.decompose()


def _walk(root: LexborNode, out: _Text) -> None:
    """Depth first without recursion (deeply nested pages exist), closing blocks on the way up."""
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag
        if leaving:
            if tag in _BLOCKS:
                out.close()
            continue
        if node.is_text_node:
            text = node.text_content or ""
            out.add(text if _inside(node, {"pre"}) else _SPACE.sub(" ", text))
            continue
        if not node.is_element_node:
            continue  # comments
        if tag == "br":
            out.add("\n")
            continue
        if tag in _BLOCKS:
            out.close()
        elif tag in _CELLS:
            out.cell()
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)))


def _children(node: LexborNode) -> list[LexborNode]:
    children, child = [], node.first_child
    while child is not None:
        children.append(child)
        child = child.next
    return children


def _inside(node: LexborNode, tags: set[str]) -> bool:
    return any(parent.tag in tags for parent in _ancestors(node))


def _has_ancestor(node: LexborNode, ids: set[int]) -> bool:
    return any(parent.mem_id in ids for parent in _ancestors(node))


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent
