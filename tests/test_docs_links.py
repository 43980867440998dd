"""The documentation's relative links and images resolve, and the README stays short.

Checked: every inline Markdown link and image (``[text](target)``, ``![alt](target)``) in
``README.md`` and ``docs/**/*.md`` whose target is relative (no scheme, not ``mailto:``). The target
file must exist; a ``#anchor`` into a Markdown file (or within the same page) must name one of its
headings, slugged as GitHub does. Links inside code blocks and code spans are not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 200

_FENCE = re.compile(r"^\s*(```|~~~)")
# A code span may wrap across lines of a paragraph, never across a blank line.
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1)(?!\n[ \t]*\n)[\s\S])+?\1")
# [text](target) or ![alt](target), with an optional "title"; the text may wrap across lines and
# hold one level of brackets.
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str) -> list[str]:
    """The page's lines, those of fenced code blocks (fences included) blanked."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def _prose(text: str) -> str:
    """The page with code blocks and code spans blanked, each line where it was."""
    blank = "\n".join(_prose_lines(text))
    return _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), blank)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped but hyphens, spaces to hyphens."""
    # A link's text stays, its target goes.
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown page; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}-{seen[slug]}"
        else:
            seen[slug] = 0
        found.add(slug)
    return found


def relative_links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every relative link and image on a page."""
    prose = _prose(page.read_text(encoding="utf-8"))
    links = []
    for match in _LINK.finditer(prose):
        target = match.group(1)
        if not _SCHEME.match(target) and not target.startswith("//"):
            links.append((prose.count("\n", 0, match.start()) + 1, target))
    return links


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with a page's relative links, one line each; empty when all resolve."""
    problems = []
    for number, target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        where = f"{page.relative_to(root)}:{number}: {target}"
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    return problems


def test_the_pages_have_links_to_check() -> None:
    assert len(PAGES) > 10
    assert sum(len(relative_links(page)) for page in PAGES) > 50


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    problems = broken_links(page)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_at_most_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail under docs/"


def test_a_broken_link_or_anchor_is_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A heading, with: punctuation\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[fine](other.md#a-heading-with-punctuation) [second](other.md#twice-1) [self](#top)\n"
        "# Top\n"
        "[gone](missing.md) ![gone too](img/none.png) [bad anchor](other.md#nope)\n"
        "`[not a link](nowhere.md)` [web](https://example.com/x.md) `a span that\n"
        "wraps [not a link](nowhere.md)` and [a link that\nwraps](gone.md)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md:3: missing.md: no such file",
        "page.md:3: img/none.png: no such file",
        "page.md:3: other.md#nope: no heading with anchor #nope",
        "page.md:5: gone.md: no such file",
    ]


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Serving (`make bench-serve`)", "serving-make-bench-serve"),
        (
            "Two cross-encoders, a cascade (2026-12-03, not kept)",
            "two-cross-encoders-a-cascade-2026-12-03-not-kept",
        ),
        ("`qa serve` options", "qa-serve-options"),
        ("Every `QA_*` setting", "every-qa_-setting"),
    ],
)
def test_github_slugs(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug
