"""Cleaning: boilerplate removal, unwrapping, hyphenation, and the offset map back to raw text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.ingest import make_document
from qa.ingest.cleaning import CleanText, clean, display_form, is_boilerplate
from qa.text import split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_FILES = sorted(p for p in SEEDS.iterdir() if p.suffix in {".txt", ".md"})

# Hard-wrapped prose (a PDF export): short lines, words broken across line ends.
WRAPPED = """\
At their Lisbon summit meeting in November 2010,
NATO leaders decided to develop a capa-
bility to defend against limited ballistic mis-
sile attack with the SM-3 interceptor and
other long-range systems in the coming decade.

A second paragraph begins here and it is
wrapped at the same short width as the first.
"""


def assert_offsets_valid(raw: str, cleaned: CleanText) -> None:
    """Every cleaned character maps into ``raw``: non-space characters to the same character,
    spaces and newlines to raw whitespace; offsets strictly increase."""
    assert len(cleaned.text) == len(cleaned.offsets)
    for i, (ch, pos) in enumerate(zip(cleaned.text, cleaned.offsets, strict=True)):
        assert 0 <= pos < len(raw), (i, pos)
        if ch.isspace():
            assert raw[pos].isspace() or raw[pos] == "\ufeff", (i, ch, pos, raw[pos])
        else:
            assert raw[pos] == ch, (i, ch, pos, raw[pos])
    assert all(a < b for a, b in zip(cleaned.offsets, cleaned.offsets[1:], strict=False))


# --- hyphenation, unwrapping, whitespace ---------------------------------------------------


def test_word_broken_across_lines_is_rejoined_and_real_hyphens_stay() -> None:
    cleaned = clean(WRAPPED)
    assert "missile attack" in cleaned.text
    assert "capability" in cleaned.text
    assert "mis-" not in cleaned.text and "mis sile" not in cleaned.text
    assert "SM-3" in cleaned.text
    assert "long-range" in cleaned.text
    assert_offsets_valid(WRAPPED, cleaned)


def test_short_hyphen_break_example() -> None:
    assert clean("The SM-3 mis-\nsile is long-range.").text == "The SM-3 missile is long-range."


def test_a_compound_broken_at_its_own_hyphen_keeps_it_where_the_document_writes_it_so() -> None:
    raw = (
        "We compare locality-sensitive hashing with a self-attention model whose locality-\n"
        "sensitive buckets and compu-\ntational cost are low, and pre-\nprocess the text.\n"
    )
    cleaned = clean(raw)
    # Written "locality-sensitive" on a line, so the break falls on its hyphen; "compu-tational"
    # and "pre-process" are written nowhere else: split words, rejoined.
    assert "locality-sensitive buckets and computational cost" in cleaned.text
    assert "preprocess the text" in cleaned.text
    assert_offsets_valid(raw, cleaned)
    # A quote's display form reads as the cleaned text when told the document it comes from.
    quote = raw[raw.index("whose") : raw.index(" the text")]
    assert (
        display_form(quote, raw)
        == "whose locality-sensitive buckets and computational cost are low, and preprocess"
    )
    assert "localitysensitive" in display_form(quote)
    # Written as one word elsewhere, it is rejoined even if also written with a hyphen.
    both = "A co-operation and more cooperation followed the co-\noperation of the two sides.\n"
    assert "the cooperation of" in clean(both).text
    # A soft hyphen only ever marks where a word may break.
    assert (
        "locality-sensitive buckets"
        not in clean(raw.replace("locality-\n", "locality\u00ad\n")).text
    )


def test_a_compound_broken_across_a_paragraph_break_keeps_its_hyphen() -> None:
    raw = "A self-attention layer.\n\nThe model uses self-\n\nattention throughout.\n"
    cleaned = clean(raw)
    assert "uses self-attention throughout" in cleaned.text
    assert_offsets_valid(raw, cleaned)


def test_hyphen_before_capital_is_not_a_line_break_hyphenation() -> None:
    # "NATO-\nRussia" is a real compound broken at its hyphen: the next word is capitalised.
    raw = "\n".join(
        ["one two three four five six"] * 2 + ["the NATO-", "Russia council met", "end of it."]
    )
    assert "NATO- Russia" in clean(raw).text


def test_hard_wrapped_lines_are_unwrapped_into_paragraphs() -> None:
    text = clean(WRAPPED).text
    paragraphs = text.split("\n")
    assert len(paragraphs) == 2
    assert paragraphs[0].startswith(
        "At their Lisbon summit meeting in November 2010, NATO leaders decided"
    )
    assert paragraphs[0].endswith("in the coming decade.")
    assert paragraphs[1] == (
        "A second paragraph begins here and it is wrapped at the same short width as the first."
    )


def test_long_unwrapped_lines_stay_separate_paragraphs() -> None:
    line = (
        "This line is a whole paragraph of web prose that was never hard-wrapped by anyone at all."
    )
    raw = "\n".join(f"{line} It is line number {i}." for i in range(6))
    assert len(raw.splitlines()[0]) > 100
    assert clean(raw).text.split("\n") == raw.split("\n")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\u00a0\u00a0b   c\t\td", "a b c d"),
        ("  leading and trailing  ", "leading and trailing"),
        ("First.\n\n\n\nSecond.", "First.\nSecond."),
        (
            "a sentence that goes\n\non after a blank line",
            "a sentence that goes on after a blank line",
        ),
        ("\ufeffBOM at the start", "BOM at the start"),
        ("tabs\tand\u2009thin\u3000spaces", "tabs and thin spaces"),
        ("Windows\r\nLine\r\nEndings.", "Windows\nLine\nEndings."),
    ],
)
def test_whitespace_is_collapsed(raw: str, expected: str) -> None:
    cleaned = clean(raw)
    assert cleaned.text == expected
    assert_offsets_valid(raw, cleaned)


def test_empty_and_blank_input() -> None:
    assert clean("") == CleanText("", ())
    assert clean(" \n\t\n\u00a0 ") == CleanText("", ())


# --- boilerplate ------------------------------------------------------------------------------


BOILERPLATE = [
    "icon bookmark-bicon bookmarkicon cameraicon checkicon chevron downicon chevron lefticon",
    "Home icon Search icon Menu icon Share icon Print icon Email icon Close icon More icon",
    "You've read 5 of 5 free stories",
    "You’ve read 3 of 10 free articles this month",
    "Only $1 for your first month.",
    "Subscribe to our newsletter for more stories like this.",
    "Already a subscriber? Sign in",
    "J. Scott Applewhite/AP",
    "Jane Roe / Getty Images",
    "Photo: Jane Roe/Reuters",
    "Photograph: Sean Gallup",
    "Credit: Associated Press",
]

CONTENT = [
    "The cat sat on the mat.",
    "Rogozin said Russia would not accept the plan.",
    "Russia balks at NATO's revised plans for missile defense shield",
    "Photographers gathered outside the summit hall on Thursday.",
    "The SM-3 Block 2A missiles would be deployed to Europe around 2018.",
    "A",
]


@pytest.mark.parametrize("line", BOILERPLATE)
def test_boilerplate_lines_are_recognised(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize("line", CONTENT)
def test_content_lines_are_not_boilerplate(line: str) -> None:
    assert not is_boilerplate(line)


@pytest.mark.parametrize("line", BOILERPLATE)
def test_boilerplate_lines_are_dropped_from_the_text(line: str) -> None:
    raw = f"The first paragraph of the story.\n\n{line}\n\nThe second paragraph of the story."
    cleaned = clean(raw)
    assert cleaned.text == "The first paragraph of the story.\nThe second paragraph of the story."
    assert_offsets_valid(raw, cleaned)


def test_exactly_repeated_headline_is_kept_once() -> None:
    headline = "Russia and NATO may see progress by June"
    raw = f"{headline}\n\n{headline}\nMoscow will set up a working group.\n\nMore text here."
    text = clean(raw).text
    assert text.count(headline) == 1
    assert text == f"{headline}\nMoscow will set up a working group.\nMore text here."


def test_repeated_line_with_different_spacing_is_still_a_repeat() -> None:
    raw = "Big news from the summit\n\nBig  news\u00a0from the summit\n\nBody."
    assert clean(raw).text == "Big news from the summit\nBody."


def test_a_repeated_line_that_ends_a_hyphenated_word_is_kept() -> None:
    # Hard-wrapped text whose third line happens to repeat the first: dropped as a repeat, it
    # would leave "mis-" dangling where the raw text (and a quote's display form) reads "missile".
    raw = (
        "sile tests over the long range here\nNATO leaders met again to discuss the mis-\n"
        "sile tests over the long range here\nand agreed on a plan for the region.\n"
        "They said so in Brussels on Monday.\nThe talks went on for days after that.\n"
    )
    text = clean(raw).text
    assert "the missile tests" in text and "mis-" not in text
    assert text.startswith("sile tests") and display_form(raw).endswith(text[-30:])


def test_markdown_heading_marker_is_stripped_with_offsets() -> None:
    raw = "# Honey bees\n\nBees ## are not a heading here."
    cleaned = clean(raw, markdown=True)
    assert cleaned.text == "Honey bees\nBees ## are not a heading here."
    assert cleaned.offsets[0] == raw.index("H")
    assert_offsets_valid(raw, cleaned)
    assert clean(raw).text.startswith("# Honey bees")  # only .md files lose the marker


def test_continued_marker_cuts_the_rest_of_the_line() -> None:
    raw = "The Alliance agreed (cont'd) on page 7 more\n\nNext paragraph."
    assert clean(raw).text == "The Alliance agreed\nNext paragraph."


def test_footnote_number_after_a_sentence_is_dropped() -> None:
    raw = "It was run by the Directorate.2 A more recent study followed."
    cleaned = clean(raw)
    assert cleaned.text == "It was run by the Directorate. A more recent study followed."
    assert_offsets_valid(raw, cleaned)


# --- display_form ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("limited ballistic mis-\nsile attack", "limited ballistic missile attack"),
        ("mis- \r\n   sile", "missile"),
        ("the SM-3 and  long-range\n systems", "the SM-3 and long-range systems"),
        ("NATO-\nRussia", "NATO- Russia"),
        ("the 2010-\n2011 budget", "the 2010- 2011 budget"),
    ],
)
def test_display_form(raw: str, expected: str) -> None:
    assert display_form(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("**Bold** and __strong__ words", "Bold and strong words"),
        ("*em* and _em_ words", "em and em words"),
        ("***both*** at once", "both at once"),
        ("a **bold\nphrase** across a line", "a bold phrase across a line"),
        ("run `qa index` first", "run qa index first"),
        ("the ``a `b` c`` code", "the a `b` c code"),
        ("`**literal**` in code", "**literal** in code"),
        ('see [the docs](https://example.com/a_b "Docs") now', "see the docs now"),
        ("![a chart](chart.png) below", "a chart below"),
        ("**[NATO](https://nato.int)** said", "NATO said"),
        ("> quoted\n> text", "quoted text"),
        ("> > nested quote", "nested quote"),
        ("## Heading\nBody text.", "Heading Body text."),
        ("Ingredients:\n- flour\n- sugar\n* eggs\n+ milk", "Ingredients: flour; sugar; eggs; milk"),
        ("Steps\n1. Mix.\n2) Bake\n  - gently", "Steps; Mix. Bake; gently"),
        ("- a limited mis-\n  sile defense", "a limited missile defense"),
        # A quote can start or end inside bold text: the partner it lacks is outside it.
        ("Bake** it now.", "Bake it now."),
        ("It said **never", "It said never"),
    ],
)
def test_display_form_drops_markdown(raw: str, expected: str) -> None:
    assert display_form(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "snake_case_name and file_1_final.txt",
        "2 * 3 * 4 and a*b*c",
        "a * loose asterisk",
        "#hashtag and 5 - 3",
        "[citation needed] stays",
        "Rogozin’s ** plan",
    ],
)
def test_display_form_keeps_what_is_not_markdown(raw: str) -> None:
    assert display_form(raw) == raw


# --- markdown documents -------------------------------------------------------------------------

RECIPE = """\
# Tart

> **Bake** it at _180 degrees_ for `25 minutes`. See [the recipe](http://x.org/a_b).

Ingredients:
- flour
- sugar
- butter, softened

1. Mix the *flour* and __sugar__.
2. add the butter
"""


def test_markdown_syntax_is_left_out_of_the_cleaned_text_with_offsets() -> None:
    cleaned = clean(RECIPE, markdown=True)
    assert cleaned.text == (
        "Tart\nBake it at 180 degrees for 25 minutes. See the recipe.\nIngredients:\n"
        "flour\nsugar\nbutter, softened\nMix the flour and sugar.\nadd the butter"
    )
    assert_offsets_valid(RECIPE, cleaned)
    plain = clean(RECIPE).text  # a .txt file's asterisks are its own text
    assert "**Bake**" in plain and "[the recipe](http://x.org/a_b)" in plain


def test_markdown_list_items_are_sentences_of_their_own() -> None:
    """Hard-wrapped markdown joins its lines, but never one list item to the next."""
    doc = make_document("recipe.md", RECIPE, markdown=True)
    sentences = [doc.text[start:end] for start, end in split_sentences(doc.text)]
    assert "flour" in sentences and "sugar" in sentences and "add the butter" in sentences
    assert not any("flour sugar" in s for s in sentences)
    wrapped_item = "- a long list item that is\n  wrapped onto a second line\n- the next item\n"
    doc = make_document("list.md", "Intro line.\n\n" + wrapped_item * 3, markdown=True)
    sentences = [doc.text[start:end] for start, end in split_sentences(doc.text)]
    assert sentences[:3] == [
        "Intro line.",
        "a long list item that is wrapped onto a second line",
        "the next item",
    ]


def test_a_markdown_sentence_reads_as_the_display_form_of_its_quote() -> None:
    doc = make_document("recipe.md", RECIPE, markdown=True)
    for start, end in split_sentences(doc.text):
        raw_start, raw_end = doc.raw_span(start, end)
        assert display_form(doc.raw_text[raw_start:raw_end], doc.raw_text) == doc.text[start:end]


_MD_WORDS = ["NATO", "missile", "defense", "Rogozin", "said", "the", "2010", "SM-3", "a", "and"]
_MD_INLINE = ["{}", "{}", "{}", "**{}**", "*{}*", "_{}_", "__{}__", "`{}`", "[{}](http://a.b/c_d)"]
_MD_MARKERS = ["", "", "", "- ", "* ", "+ ", "1. ", "> ", "## ", "> - "]


@st.composite
def markdown_documents(draw: st.DrawFn) -> str:
    """Markdown: blocks of lines, each with an optional line marker and inline syntax."""
    blocks: list[str] = []
    for b in range(draw(st.integers(1, 5))):
        lines = []
        for n in range(draw(st.integers(1, 4))):
            words = [
                draw(st.sampled_from(_MD_INLINE)).format(draw(st.sampled_from(_MD_WORDS)))
                for _ in range(draw(st.integers(1, 6)))
            ]
            words.append(f"line{b}x{n}")  # no line repeats another (repeats are dropped)
            marker, end = draw(st.sampled_from(_MD_MARKERS)), draw(st.sampled_from(["", ".", ":"]))
            lines.append(marker + " ".join(words) + end)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=markdown_documents())
def test_every_markdown_sentence_is_the_display_form_of_its_quote(raw: str) -> None:
    doc = make_document("doc.md", raw, markdown=True)
    assert_offsets_valid(raw, CleanText(doc.text, doc.offsets))
    for start, end in split_sentences(doc.text):
        raw_start, raw_end = doc.raw_span(start, end)
        assert display_form(doc.raw_text[raw_start:raw_end], doc.raw_text) == doc.text[start:end]


# --- the offset invariant ---------------------------------------------------------------------

_PIECES = st.sampled_from(
    list("abcxyzABCXYZ0123456789 -\n\r\t.,;:!?'\"()#/$%\u00a0\u00ad\ufeff\u2028éßüЖ中—’“”")
    + [
        "mis-\nsile",
        "SM-3 ",
        "long-range ",
        "\n\n",
        "Mr. ",
        "U.S. ",
        "word ",
        "Word ",
        "# ",
        "(cont'd)",
        "Photo: Jane Roe/Reuters\n",
        "J. Scott Applewhite/AP\n",
        "subscribe ",
        "Directorate.2 A",
        "the same repeated line\n",
        "**",
        "*",
        "_",
        "__x__ ",
        "`",
        "[link](http://a.b/c_d) ",
        "\n- ",
        "\n* ",
        "\n1. ",
        "\n> ",
    ]
)
RAW_TEXTS = st.lists(_PIECES, max_size=120).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(RAW_TEXTS, st.text(max_size=200)), markdown=st.booleans())
def test_cleaned_characters_map_back_to_raw(raw: str, markdown: bool) -> None:
    cleaned = clean(raw, markdown=markdown)
    assert_offsets_valid(raw, cleaned)
    assert "  " not in cleaned.text
    assert cleaned.text == cleaned.text.strip()
    assert "\n\n" not in cleaned.text


@settings(max_examples=200, deadline=None)
@given(raw=RAW_TEXTS)
def test_cleaning_never_invents_characters(raw: str) -> None:
    """Cleaning never invents characters: the cleaned non-space characters are a subsequence
    of the raw non-space characters."""
    cleaned = [ch for ch in clean(raw).text if not ch.isspace()]
    it = iter(raw)
    assert all(any(ch == r for r in it) for ch in cleaned)


# --- the real seed articles -------------------------------------------------------------------


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_file_offsets_are_valid(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    cleaned = clean(raw, markdown=path.suffix == ".md")
    assert cleaned.text
    assert_offsets_valid(raw, cleaned)


def _seed(prefix: str) -> str:
    (path,) = [p for p in SEED_FILES if p.name.startswith(prefix)]
    return path.read_text(encoding="utf-8")


def test_seed_pdf_text_is_unwrapped_and_dehyphenated() -> None:
    text = clean(_seed("003_")).text
    assert "limited ballistic missile attack" in text
    assert "Russian President Dmitry Medvedev" in text
    assert "making progress on its missile defense system" in text
    assert "SM-3 interceptor" in text
    assert "longer-range missiles" in text
    assert "mis- sile" not in text and "pro- gress" not in text


def test_seed_icon_menu_and_repeated_headline_dropped() -> None:
    text = clean(_seed("004_")).text
    assert "bookmarkicon" not in text and "chevron" not in text
    headline = "Russia, NATO may see progress in missile defense cooperation by June"
    assert text.count(headline) == 1
    assert text.startswith(headline)


def test_seed_photo_credit_dropped() -> None:
    raw = _seed("002_")
    assert "J. Scott Applewhite/AP" in raw
    text = clean(raw).text
    assert "Applewhite" not in text
    assert "Russian Foreign Minister Sergei Lavrov holds a press conference" in text
