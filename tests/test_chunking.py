"""Sentence-aware chunking: raw offsets, token budgets, one sentence of overlap, full coverage."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa.ingest import load_corpus, make_document
from qa.ingest.chunking import chunk_corpus, chunk_document, sentence_spans, tiktoken_counter
from qa.ingest.cleaning import display_form
from qa.schema import Chunk, Document, Sentence
from qa.text import titled

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def word_count(text: str) -> int:
    """A deterministic, additive token counter: one token per whitespace-separated word."""
    return len(text.split())


def is_subsequence(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    it = iter(haystack)
    return all(any(x == y for y in it) for x in needle)


def _cleaned_range(doc: Document, first: Sentence, last: Sentence) -> str:
    """The cleaned text from the start of ``first`` to the end of ``last``."""
    start = bisect_left(doc.offsets, first.start)
    end = bisect_left(doc.offsets, last.end - 1) + 1
    return doc.text[start:end]


def check_chunks(
    docs: Sequence[Document],
    sentences: Sequence[Sentence],
    chunks: Sequence[Chunk],
    *,
    budget: int,
    overlap: int,
    count,
    fits_model=lambda text: True,
) -> None:
    """The invariants every chunking must satisfy."""
    by_id = {d.doc_id: d for d in docs}
    assert [s.sentence_id for s in sentences] == list(range(len(sentences)))
    assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
    for s in sentences:
        raw = by_id[s.doc_id].raw_text
        assert 0 <= s.start < s.end <= len(raw)
        assert raw[s.start] == s.text[0] and raw[s.end - 1] == s.text[-1]
        assert _cleaned_range(by_id[s.doc_id], s, s) == s.text
    for c in chunks:
        doc = by_id[c.doc_id]
        raw_slice = doc.raw_text[c.start : c.end]
        # Offsets slice the raw document, and the slice starts and ends where the text does.
        assert 0 <= c.start < c.end <= len(doc.raw_text)
        assert raw_slice[0] == c.text[0] and raw_slice[-1] == c.text[-1]
        # The cleaned text's characters, and its words, appear in order in the raw slice.
        assert is_subsequence([ch for ch in c.text if not ch.isspace()], raw_slice)
        pos, readable = 0, display_form(raw_slice)
        for word in c.text.split():
            found = readable.find(word, pos)
            assert found >= 0, (word, readable[pos:])
            pos = found + len(word)
        # No chunk crosses documents: all its sentences are from its document, in its span.
        members = sentences[c.first_sentence : c.last_sentence + 1]
        assert members and all(s.doc_id == c.doc_id for s in members)
        assert members[0].start == c.start and members[-1].end == c.end
        assert _cleaned_range(doc, members[0], members[-1]) == c.text
        # The budget, counted with the same counter on the chunk text itself.
        assert c.n_tokens == count(c.text)
        assert c.n_tokens <= budget, (c.text, c.n_tokens)
        if len(members) > 1:
            assert fits_model(titled(doc.title, c.text))
    for doc in docs:
        mine = [c for c in chunks if c.doc_id == doc.doc_id]
        ids = [s.sentence_id for s in sentences if s.doc_id == doc.doc_id]
        if not ids:
            assert not mine
            continue
        # Coverage: the first chunk starts at the first sentence, the last ends at the last one.
        assert mine[0].first_sentence == ids[0] and mine[-1].last_sentence == ids[-1]
        covered = set().union(*(range(c.first_sentence, c.last_sentence + 1) for c in mine))
        assert covered == set(ids)
        for prev, nxt in zip(mine, mine[1:], strict=False):
            # Every chunk adds at least one new sentence (none is contained in the previous one)
            assert nxt.last_sentence > prev.last_sentence
            # ... and repeats the last ``overlap`` sentences of the previous chunk, unless those
            # and the next new sentence do not fit together: then it starts afresh.
            with_overlap = max(prev.last_sentence + 1 - overlap, prev.first_sentence + 1)
            if nxt.first_sentence != with_overlap:
                assert nxt.first_sentence == prev.last_sentence + 1
                group = sentences[with_overlap : prev.last_sentence + 2]
                text = _cleaned_range(doc, group[0], group[-1])
                assert (
                    sum(count(s.text) for s in group) > budget
                    or count(text) > budget
                    or not fits_model(titled(doc.title, text))
                )


# --- generated documents ----------------------------------------------------------------------

_WORDS = ["NATO", "missile", "defense", "Rogozin", "said", "the", "2010", "long-range", "SM-3",
          "Moscow’s", "€5", "naïve", "中文", "U.S.", "Mr.", "interceptors", "and", "a"]  # fmt: skip
_END = [".", "?", "!", ".”"]


@st.composite
def raw_documents(draw: st.DrawFn) -> str:
    """Raw text: paragraphs of sentences, sometimes hard-wrapped with words broken by hyphens."""
    paragraphs = []
    for _ in range(draw(st.integers(1, 4))):
        sentences = []
        for _ in range(draw(st.integers(1, 6))):
            words = draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=14))
            sentences.append(
                words[0].capitalize() + " " + " ".join(words[1:]) + draw(st.sampled_from(_END))
            )
        text = " ".join(sentences)
        if draw(st.booleans()):  # hard-wrap at ~30 characters, sometimes breaking a word
            lines, line = [], ""
            for word in text.split(" "):
                if len(line) > 30:
                    if draw(st.booleans()) and len(word) > 5 and word.isalpha() and word.islower():
                        lines.append(f"{line} {word[:3]}-")
                        line = word[3:]
                        continue
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}".strip()
            lines.append(line)
            text = "\n".join(lines)
        paragraphs.append(text)
    return "\n\n".join(paragraphs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raws=st.lists(raw_documents(), min_size=1, max_size=3),
    budget=st.integers(1, 60),
    overlap=st.integers(0, 2),
)
def test_chunk_invariants_with_an_additive_counter(
    raws: list[str], budget: int, overlap: int
) -> None:
    docs = [make_document(f"doc{i}.txt", raw) for i, raw in enumerate(raws)]
    sentences, chunks = chunk_corpus(docs, budget=budget, overlap=overlap, count=word_count)
    check_chunks(docs, sentences, chunks, budget=budget, overlap=overlap, count=word_count)
    # With an additive counter the chunk text itself fits the budget (words are never longer).
    for c in chunks:
        assert word_count(c.text) <= budget


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_documents(), budget=st.integers(12, 80))
# Found by hypothesis: a repeated line that ends a hyphenated word ("mis-" / "sile ...").
@example(
    raw="Nato . Nato NATO NATO NATO NATO\nlong-range. Nato NATO NATO NATO mis-\nsile NATO "
    "long-range NATO NATO long-range\nNATO NATO NATO long-range. Nato\n. Nato NATO NATO NATO "
    "NATO NATO\nNATO NATO NATO NATO NATO NATO NATO\nmissile. Missile missile missile mis-\n"
    "sile NATO long-range NATO NATO long-range\nNATO.",
    budget=12,
)
def test_chunk_invariants_with_tiktoken(raw: str, budget: int) -> None:
    count = tiktoken_counter()
    docs = [make_document("doc.txt", raw)]
    sentences, chunks = chunk_corpus(docs, budget=budget, overlap=1, count=count)
    check_chunks(docs, sentences, chunks, budget=budget, overlap=1, count=count)


@pytest.mark.parametrize("budget", [30, 80, 180])
def test_chunk_invariants_on_the_seed_articles(budget: int) -> None:
    count = tiktoken_counter()
    docs = load_corpus(SEEDS)
    sentences, chunks = chunk_corpus(docs, budget=budget, overlap=1)
    check_chunks(docs, sentences, chunks, budget=budget, overlap=1, count=count)
    assert {c.doc_id for c in chunks} == {d.doc_id for d in docs}


# --- specific behaviour -----------------------------------------------------------------------


def test_overlap_is_exactly_one_sentence() -> None:
    doc = make_document(
        "d.txt", "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    )
    sentences, chunks = chunk_document(doc, 0, 0, budget=6, overlap=1, count=word_count)
    assert [s.text for s in sentences] == [
        "One two three.",
        "Four five six.",
        "Seven eight nine.",
        "Ten eleven twelve.",
    ]
    assert [c.text for c in chunks] == [
        "One two three. Four five six.",
        "Four five six. Seven eight nine.",
        "Seven eight nine. Ten eleven twelve.",
    ]
    assert [(c.first_sentence, c.last_sentence) for c in chunks] == [(0, 1), (1, 2), (2, 3)]
    assert [c.n_tokens for c in chunks] == [6, 6, 6]


def test_numbering_continues_across_documents() -> None:
    docs = [
        make_document("a.txt", "Alpha one. Alpha two."),
        make_document("b.txt", "Beta one. Beta two."),
    ]
    sentences, chunks = chunk_corpus(docs, budget=100, overlap=1, count=word_count)
    assert [(c.doc_id, c.first_sentence, c.last_sentence) for c in chunks] == [
        ("a.txt", 0, 1),
        ("b.txt", 2, 3),
    ]
    assert chunks[1].text == "Beta one. Beta two."  # nothing of a.txt leaks into b.txt


def test_single_over_long_sentence_is_cut_to_fit() -> None:
    words = [f"w{i}" for i in range(25)]
    doc = make_document("long.txt", " ".join(words) + ".")
    spans = sentence_spans(doc, 10, word_count)
    assert all(s.n_tokens <= 10 for s in spans)
    assert [doc.text[s.start : s.end] for s in spans] == [
        " ".join(words[0:10]),
        " ".join(words[10:20]),
        " ".join(words[20:]) + ".",
    ]
    sentences, chunks = chunk_document(doc, 0, 0, budget=10, overlap=1, count=word_count)
    assert len(sentences) == 3
    assert all(word_count(c.text) <= 10 for c in chunks)
    assert " ".join(s.text for s in sentences) == doc.text


def test_over_long_sentence_cut_with_tiktoken() -> None:
    count = tiktoken_counter()
    text = " ".join(["interceptor missiles would be deployed to Europe"] * 40) + "."
    doc = make_document("long.txt", text)
    assert count(doc.text) > 180
    sentences, chunks = chunk_document(doc, 0, 0, budget=60, overlap=1, count=count)
    assert len(sentences) > 1
    assert all(count(s.text) <= 60 for s in sentences)
    assert " ".join(s.text for s in sentences) == doc.text


def test_fits_model_veto_shrinks_chunks() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(12))
    doc = make_document("d.txt", text)
    _, unconstrained = chunk_document(doc, 0, 0, budget=1000, overlap=1, count=word_count)
    assert len(unconstrained) == 1

    def fits(chunk_text: str) -> bool:
        return len(chunk_text) <= 90

    sentences, chunks = chunk_document(
        doc, 0, 0, budget=1000, overlap=1, count=word_count, fits_model=fits
    )
    assert len(chunks) > 1
    assert all(fits(c.text) for c in chunks)
    assert all(c.last_sentence > c.first_sentence for c in chunks)  # still more than one sentence
    check_chunks(
        [doc], sentences, chunks, budget=1000, overlap=1, count=word_count, fits_model=fits
    )


def test_fits_model_veto_counts_the_title_the_model_will_see() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(6))
    plain = make_document("d.txt", text)
    headed = make_document("d.txt", text, title="A long title that the embedding model reads too")

    def fits(chunk_text: str) -> bool:
        return len(chunk_text) <= 120

    _, plain_chunks = chunk_document(
        plain, 0, 0, budget=1000, overlap=0, count=word_count, fits_model=fits
    )
    _, headed_chunks = chunk_document(
        headed, 0, 0, budget=1000, overlap=0, count=word_count, fits_model=fits
    )
    assert len(headed_chunks) > len(plain_chunks)
    assert all(
        fits(titled(headed.title, c.text))
        for c in headed_chunks
        if c.last_sentence > c.first_sentence
    )


def test_fits_model_cannot_veto_a_single_sentence() -> None:
    doc = make_document("d.txt", "A rather long single sentence. Another one.")
    _, chunks = chunk_document(
        doc, 0, 0, budget=100, overlap=1, count=word_count, fits_model=lambda t: False
    )
    assert [c.text for c in chunks] == ["A rather long single sentence.", "Another one."]


def test_chunk_offsets_skip_boilerplate_and_rejoin_hyphens() -> None:
    raw = (
        "Missile talks\n\nPhoto: Jane Roe/Reuters\n\n"
        "NATO leaders decided to build a limited ballistic\nmis-\nsile defense.\n"
        "Russia was invited.\nThe talks go\non in June.\n"
    )
    doc = make_document("d.txt", raw)
    sentences, chunks = chunk_document(doc, 0, 0, budget=200, overlap=1, count=word_count)
    assert "missile defense" in chunks[0].text and "Jane Roe" not in chunks[0].text
    (missile,) = [s for s in sentences if "missile" in s.text]
    assert raw[missile.start : missile.end] == (
        "NATO leaders decided to build a limited ballistic\nmis-\nsile defense."
    )
    assert display_form(raw[missile.start : missile.end]) == missile.text


def test_empty_document_has_no_chunks() -> None:
    doc = make_document("empty.txt", "\n\n  \n")
    assert chunk_document(doc, 0, 0, budget=10, overlap=1, count=word_count) == ([], [])


def test_tiktoken_counter_counts_tokens() -> None:
    count = tiktoken_counter()
    assert count("") == 0
    assert count("hello world") == 2
    assert count("<|endoftext|>") > 1  # special tokens are plain text here, never an error


# --- regressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "budget"), [("The\nRogozin", 5), ("missilemissile ,long-range", 6)]
)
def test_chunk_text_fits_the_budget_with_tiktoken(raw: str, budget: int) -> None:
    """The budget holds for the chunk text as embedded, not just for the sum of its sentences:
    tiktoken counts a joining "\n" as a token, and " ,long" differently from ",long"."""
    count = tiktoken_counter()
    doc = make_document("d.txt", raw)
    _, chunks = chunk_document(doc, 0, 0, budget=budget, overlap=1, count=count)
    assert len(chunks) == 2
    for c in chunks:
        assert count(c.text) == c.n_tokens <= budget


def test_no_chunk_is_contained_in_its_predecessor() -> None:
    """When the overlap sentence and the next one do not fit together, the next chunk starts
    afresh instead of repeating the overlap sentence alone."""
    doc = make_document("d.txt", "Aa bb cc dd ee. Ff gg hh ii jj. Kk ll mm nn oo pp qq rr ss.")
    _, chunks = chunk_document(doc, 0, 0, budget=10, overlap=1, count=word_count)
    assert [c.text for c in chunks] == [
        "Aa bb cc dd ee. Ff gg hh ii jj.",
        "Kk ll mm nn oo pp qq rr ss.",
    ]
