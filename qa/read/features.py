"""What the reader's linear ranker reads of each candidate sentence (``qa.read.answer``): its
similarity to the question (bare and under its title), how much of the question's weighed
vocabulary it, its neighbours and the title hold, WordNet relatives of the missing words, whether
it holds a span of the kind the question asks for, and its chunk's retrieval rank and score."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from qa.read import answer_types, short_answer
from qa.read.related_terms import RelatedTerms
from qa.read.terms import TermStats
from qa.schema import Hit, Sentence
from qa.text import content_terms

_NONE: frozenset[str] = frozenset()
# Sentences whose analysed terms are kept between questions (a few questions' candidates).
_ANALYSED_SENTENCES = 4096
# Documents whose titles (and their terms) are kept between questions.
_TITLED_DOCUMENTS = 4096


class SentenceFeatures:
    """Features of a collection's sentences for one question at a time; ``documents`` maps
    doc_id to ``(title, raw_text)``, ``stats`` weighs terms, ``related`` links a question's words
    to their WordNet relatives (None: no links)."""

    def __init__(
        self,
        sentences: Sequence[Sentence],
        sentence_vectors: np.ndarray,
        titled_vectors: np.ndarray,
        documents: Mapping[str, tuple[str, str]],
        stats: TermStats,
        related: RelatedTerms | None,
    ) -> None:
        self._sentences = sentences
        self._vectors = sentence_vectors
        self._titled_vectors = titled_vectors
        self._documents = documents
        self.stats = stats
        self._related = related
        # A sentence's terms are read when it is a candidate or a candidate's neighbour, not all
        # held at once: sets for every sentence took 28 MiB for SQuAD dev's 10,000 sentences,
        # some 14 GB for the 5 million of a million chunks.
        self._analysed = functools.lru_cache(maxsize=_ANALYSED_SENTENCES)(self._analyse)
        # Kept for the documents that came up last: a loaded index reads a document's text (its
        # title with it) when asked for, and a million documents' titles need not stay in memory.
        self._titled = functools.lru_cache(maxsize=_TITLED_DOCUMENTS)(self._read_title)

    def title(self, doc_id: str) -> str:
        """A document's title."""
        return self._titled(doc_id)[0]

    def of_candidates(
        self,
        question: str,
        q_terms: frozenset[str],
        kind: str | None,
        q_vector: np.ndarray,
        hits: Sequence[Hit],
    ) -> list[tuple[int, int, dict[str, float]]]:
        """Each sentence of ``hits``: its id, its best chunk's rank, and its features."""
        best_hit: dict[int, Hit] = {}
        for hit in hits:
            for sid in range(hit.chunk.first_sentence, hit.chunk.last_sentence + 1):
                best_hit.setdefault(sid, hit)
        if not best_hit:
            return []
        top_score = max(hit.score for hit in hits) or 1.0
        ids = sorted(best_hit)
        q_vector = np.asarray(q_vector, dtype=np.float32)
        dense = (self._vectors[ids] @ q_vector).tolist()
        dense_titled = (self._titled_vectors[ids] @ q_vector).tolist()
        links = self._related.of_question(question) if self._related is not None else {}
        q_list = content_terms(question)
        q_bigrams = frozenset(zip(q_list, q_list[1:], strict=False))
        total = sum(self.stats.weight(t) for t in q_terms) or 1.0
        # The same for every candidate: how much of the question the collection speaks of at all
        # (a word or a WordNet relative of it anywhere). A question about something else names
        # things no document holds; one asked in other words still names the collection's.
        known = (
            sum(
                self.stats.weight(t)
                for t in q_terms
                if self.stats.known(t) or any(map(self.stats.known, links.get(t, _NONE)))
            )
            / total
        )
        candidates = []
        for sid, similarity, titled_similarity in zip(ids, dense, dense_titled, strict=True):
            features = self._features(sid, q_terms, q_bigrams, kind, total, links)
            hit = best_hit[sid]
            features["dense"] = similarity
            features["dense_titled"] = titled_similarity
            features["inv_rank"] = 1.0 / hit.rank
            features["passage"] = hit.score / top_score
            features["known"] = known
            candidates.append((sid, hit.rank, features))
        return candidates

    def _features(
        self,
        sid: int,
        q_terms: frozenset[str],
        q_bigrams: frozenset[tuple[str, str]],
        kind: str | None,
        total: float,
        links: Mapping[str, frozenset[str]],
    ) -> dict[str, float]:
        """Features of one sentence; ``total`` is the question terms' summed weight, ``links``
        the stems linked to each question term (``RelatedTerms.of_question``)."""
        terms, bigrams = self._analysed(sid)
        sentence = self._sentences[sid]  # made from the mapped store at each lookup: once here
        typed = kind is not None and short_answer.has_novel_span(sentence.text, q_terms, kind)
        strict = kind in answer_types.STRICT_TYPES
        window = self._window_terms(sid, sentence.doc_id)
        return {
            "cover": sum(self.stats.weight(t) for t in q_terms & terms) / total,
            "window": sum(self.stats.weight(t) for t in q_terms & window) / total,
            "related": sum(
                self.stats.weight(t) for t in q_terms - window if links.get(t, _NONE) & window
            )
            / total,
            "bigram": len(q_bigrams & bigrams) / len(q_bigrams) if q_bigrams else 0.0,
            "novelty": len(terms - q_terms) / len(terms) if terms else 0.0,
            "strict_hit": float(strict and typed),
            "strict_miss": float(strict and not typed),
            "soft_hit": float(kind is not None and not strict and typed),
            "length": min(len(sentence.text.split()), 60) / 60,
        }

    def _analyse(self, sid: int) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
        """A sentence's content terms and its adjacent term pairs."""
        terms = content_terms(self._sentences[sid].text)
        return frozenset(terms), frozenset(zip(terms, terms[1:], strict=False))

    def terms(self, sid: int) -> frozenset[str]:
        """A sentence's content terms."""
        return self._analysed(sid)[0]

    def _window_terms(self, sid: int, doc_id: str) -> frozenset[str]:
        """Terms of the sentence (of document ``doc_id``), its neighbours in the same document,
        and the title."""
        terms = set(self.terms(sid))
        for other in (sid - 1, sid + 1):
            if 0 <= other < len(self._sentences) and self._sentences[other].doc_id == doc_id:
                terms |= self.terms(other)
        return frozenset(terms | self._titled(doc_id)[1])

    def _read_title(self, doc_id: str) -> tuple[str, frozenset[str]]:
        """A document's title and its content terms."""
        title = self._documents[doc_id][0]
        return title, frozenset(content_terms(title))
