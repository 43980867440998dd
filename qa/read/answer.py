"""The extractive reader: from retrieved chunks to a quoted, cited answer, or an honest abstention.

Each sentence of the retrieved chunks is scored on how well it answers the question: embedding
similarity, how much of the question's (IDF-weighted) vocabulary it and its neighbours contain, and
whether it holds a span of the kind the question asks for (a date for "when", a number for "how
many"...). The same evidence gives the confidence, and below the threshold the reader abstains;
otherwise a cross-encoder, when given, rereads the best few sentences with the question and picks
the one to quote. Pure: no I/O, everything it needs is passed in (the cross-encoder too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.read import answer_types, short_answer
from qa.read.evidence import Evidence
from qa.read.features import SentenceFeatures
from qa.read.reader_model import ReaderModel
from qa.read.related_terms import RelatedTerms
from qa.read.rereading import PairScorer, Reread, Rereader
from qa.read.terms import TermStats, question_terms
from qa.schema import Citation, Hit, Sentence, page_of
from qa.text import content_terms, in_context

# A neighbouring sentence joins the answer when it adds this share of the question's weight.
_NEIGHBOUR_GAIN = 0.2
# Other answers than the first reread at most this many sentences in all.
_MAX_REREAD = 20


@dataclass(frozen=True)
class Reading:
    """The reader's verdict: the answer span and how sure it is."""

    answerable: bool
    text: str | None
    short_answer: str | None
    confidence: float
    citations: tuple[Citation, ...]
    evidence: Evidence | None
    # On an abstention, the text it would have quoted had it answered (for the "never abstain"
    # baseline and for showing what came closest); None when it answers.
    closest: str | None = None
    # Other possible answers when several were asked for, best first, each from other sentences.
    others: tuple[Reading, ...] = ()


class Reader:
    """Chooses and cites the answer sentence among the retrieved chunks."""

    def __init__(
        self,
        sentences: Sequence[Sentence],
        sentence_vectors: np.ndarray,
        documents: Mapping[str, tuple[str, str]],
        *,
        titled_vectors: np.ndarray | None = None,
        model: ReaderModel | None = None,
        threshold: float | None = None,
        cross_encoder: PairScorer | None = None,
        page_starts: Mapping[str, Sequence[int]] | None = None,
        term_stats: TermStats | None = None,
        related_terms: RelatedTerms | None = None,
        cache_pairs: int = 0,
    ) -> None:
        """``documents`` maps doc_id to ``(title, raw_text)``; ``threshold`` overrides the model's.

        ``term_stats``: the sentences' term frequencies, read from an index that has them (the
        sentence BM25 index's); counted over ``sentences`` when not given.

        ``page_starts`` maps a paged document's (a PDF's) doc_id to the raw offset where each of
        its pages begins (``Document.page_starts``); its citations then carry their page.

        ``sentence_vectors`` embed each sentence alone, ``titled_vectors`` headed by its document's
        title (``qa.text.titled``; the bare ones when not given). The title tells which sentences
        are about the question's subject; only the bare sentence says whether it answers it.

        ``cache_pairs``: how many of the cross-encoder's readings (question and sentence) to
        keep for questions asked again.
        """
        self._sentences = sentences
        self._documents = documents
        self._page_starts: Mapping[str, Sequence[int]] = page_starts or {}
        self._stats = term_stats or TermStats.from_term_sets(
            frozenset(content_terms(s.text)) for s in sentences
        )
        self._features = SentenceFeatures(
            sentences,
            sentence_vectors,
            sentence_vectors if titled_vectors is None else titled_vectors,
            documents,
            self._stats,
            related_terms,
        )
        self.model = model or ReaderModel.load()
        self.cross_encoder = cross_encoder
        self._rereader = (
            None
            if cross_encoder is None
            else Rereader(
                cross_encoder,
                lambda: self.model.rerank,
                self.shown_sentence,
                lambda sid: self._sentences[sid].text,
                cache_pairs,
            )
        )
        # The gate read after the cross-encoder, when there is one and the model has it.
        self.gate = self.model.gate if cross_encoder is not None else None
        default = self.gate.threshold if self.gate is not None else self.model.threshold
        self.threshold = default if threshold is None else threshold

    def read(
        self,
        question: str,
        question_vector: np.ndarray,
        hits: Sequence[Hit],
        *,
        width: int = 1,
        answers: int = 1,
    ) -> Reading:
        """The best-supported answer to ``question`` from ``hits``, or an abstention.

        ``width``: how many sentences the cross-encoder may read at once, on cores no other work
        is using (the answer is the same whatever it is; only sooner). ``answers``: how many
        answers in all, the best and up to ``answers - 1`` others (``Reading.others``); the
        best and whether to answer are the same whatever it is.
        """
        q_terms, kind, scored = self._scored(question, question_vector, hits)
        if not scored:
            return Reading(False, None, None, 0.0, (), None)
        if self.gate is None:
            # The linear gate decides before the reread: questions it abstains on never pay for
            # the cross-encoder.
            best = max(scored, key=lambda e: e.score)
            confidence = self.model.confidence(confidence_features(best, scored))
            if confidence < self.threshold:
                return self._abstain(confidence, best, q_terms)
        done = self._rerank(question, scored, width)
        reread = done.evidence
        best = max(reread, key=lambda e: e.score)
        if self.gate is not None:
            # Whether to answer rests on what the cross-encoder read, not only on shared words:
            # a question asked in other words than the document's still gets its answer.
            confidence = self.gate.confidence(confidence_features(best, reread))
            if confidence < self.threshold:
                return self._abstain(confidence, best, q_terms)
        first = self._answered(best, confidence, q_terms, kind, done.spans)
        if answers <= 1:
            return first
        others = self._others(question, first, done, q_terms, kind, answers - 1)
        return replace(first, others=others)

    def _answered(
        self,
        chosen: Evidence,
        confidence: float,
        q_terms: frozenset[str],
        kind: str | None,
        spans: Mapping[int, tuple[int, int]],
    ) -> Reading:
        """The answer quoting ``chosen`` (a neighbour may join), its short answer and citation."""
        span, text = self._quoted(chosen.sentence_id, q_terms)
        learned = spans.get(chosen.sentence_id)
        if learned is not None:  # in the quoted text, which may start with a neighbour
            shift = text.index(self._sentences[chosen.sentence_id].text)
            learned = (learned[0] + shift, learned[1] + shift)
        short = short_answer.choose(text, q_terms, kind, learned)
        return Reading(True, text, short, confidence, (self._cite(span),), chosen)

    def _others(
        self,
        question: str,
        first: Reading,
        done: Reread,
        q_terms: frozenset[str],
        kind: str | None,
        wanted: int,
    ) -> tuple[Reading, ...]:
        """Up to ``wanted`` answers after ``first``, taken best score first, none quoting a
        sentence an earlier one quotes (more sentences reread until there are enough); each as
        sure as the gate is of it beside the others read, and given surest first."""
        assert first.evidence is not None
        while True:
            picked = self._distinct(first.evidence.sentence_id, done.evidence, q_terms, wanted)
            missing = wanted - len(picked)
            if not missing or len(done.pairs) >= min(len(done.ranked), _MAX_REREAD):
                break
            assert self._rereader is not None  # only a reread has sentences left unread
            done = self._rereader.read_further(question, done, len(done.pairs) + missing)
        judge = self.gate if self.gate is not None else self.model
        others = [
            self._answered(
                e,
                judge.confidence(confidence_features(e, done.evidence)),
                q_terms,
                kind,
                done.spans,
            )
            for e in picked
        ]
        # Shown as a list under the first: surest first (the gate weighs each beside the others).
        return tuple(sorted(others, key=lambda r: -r.confidence))

    def _distinct(
        self, first: int, read: Sequence[Evidence], q_terms: frozenset[str], wanted: int
    ) -> list[Evidence]:
        """Up to ``wanted`` of ``read``, best score first, none quoting a sentence that the
        answer quoting sentence ``first`` or an earlier pick quotes."""
        quoted = set(self._answer_span(first, q_terms))
        picked = []
        for e in sorted(read, key=lambda e: -e.score):
            if len(picked) == wanted:
                break
            span = set(self._answer_span(e.sentence_id, q_terms))
            if not quoted & span:
                picked.append(e)
                quoted |= span
        return picked

    def _abstain(self, confidence: float, best: Evidence, q_terms: frozenset[str]) -> Reading:
        closest = self._quoted(best.sentence_id, q_terms)[1]
        return Reading(False, None, None, confidence, (), best, closest)

    def _quoted(self, sid: int, q_terms: frozenset[str]) -> tuple[list[int], str]:
        """The sentences quoted when ``sid`` is the best (a neighbour may join) and their text."""
        span = self._answer_span(sid, q_terms)
        return span, " ".join(self._sentences[i].text for i in span)

    def gate_candidate(
        self, question: str, question_vector: np.ndarray, hits: Sequence[Hit]
    ) -> tuple[dict[str, float], str] | None:
        """The gate's features for the sentence the reader would quote after the reread, and
        the text it would quote (fitting the gate); None without candidates.
        """
        q_terms, _, scored = self._scored(question, question_vector, hits)
        if not scored:
            return None
        reread = self._rerank(question, scored).evidence
        best = max(reread, key=lambda e: e.score)
        return confidence_features(best, reread), self._quoted(best.sentence_id, q_terms)[1]

    def sentence_text(self, sid: int) -> str:
        return self._sentences[sid].text

    def candidates(
        self, question: str, q_vector: np.ndarray, hits: Sequence[Hit]
    ) -> list[Evidence]:
        """Every sentence of ``hits`` with its features and model score."""
        return self._scored(question, q_vector, hits)[2]

    def _scored(
        self, question: str, q_vector: np.ndarray, hits: Sequence[Hit]
    ) -> tuple[frozenset[str], str | None, list[Evidence]]:
        """The question's terms, its expected answer kind, and every candidate's evidence."""
        q_terms = question_terms(question) or frozenset(content_terms(question))
        kind = answer_types.expected_type(question)
        candidates = self._features.of_candidates(question, q_terms, kind, q_vector, hits)
        evidence = [
            Evidence(sid, self.model.score(features), rank, features)
            for sid, rank, features in candidates
        ]
        return q_terms, kind, evidence

    def _rerank(self, question: str, scored: list[Evidence], width: int = 1) -> Reread:
        """The cross-encoder's reread of ``scored`` (``qa.read.rereading``); without one, the
        linear ranking as it is."""
        if self._rereader is None:
            return Reread.unread(scored)
        return self._rereader.rerank(question, scored, width)

    def shown_sentence(self, sid: int, context: int = 0) -> str:
        """A sentence as a cross-encoder reads it: headed by its document's title and, with
        ``context`` 1, by the sentence before it in its document (``qa.text.in_context``)."""
        sentence = self._sentences[sid]
        before = self._sentences[sid - 1] if context and sid > 0 else None
        previous = before.text if before is not None and before.doc_id == sentence.doc_id else ""
        return in_context(self._features.title(sentence.doc_id), previous, sentence.text)

    def _answer_span(self, sid: int, q_terms: frozenset[str]) -> list[int]:
        """The sentence, plus a neighbour that holds question words it lacks or that it leads into.

        Answers often straddle two sentences: "X stressed that both sides should give up Y." /
        "Such an agreement would Z." The neighbour carries what the question asks about.
        """
        sentence = self._sentences[sid]
        span = [sid]
        total = sum(self._stats.weight(t) for t in q_terms) or 1.0
        missing = q_terms - self._features.terms(sid)
        for other in (sid - 1, sid + 1):
            if (
                not 0 <= other < len(self._sentences)
                or self._sentences[other].doc_id != sentence.doc_id
            ):
                continue
            gain = sum(self._stats.weight(t) for t in missing & self._features.terms(other)) / total
            leads_in = other == sid + 1 and (
                len(sentence.text.split()) < 6 or sentence.text.rstrip().endswith(":")
            )
            if gain >= _NEIGHBOUR_GAIN or leads_in:
                span.append(other)
        return sorted(span)

    def _cite(self, span: Sequence[int]) -> Citation:
        first, last = self._sentences[span[0]], self._sentences[span[-1]]
        title, raw = self._documents[first.doc_id]
        page = page_of(self._page_starts.get(first.doc_id, ()), first.start)
        quote = raw[first.start : last.end]
        return Citation(1, first.doc_id, title, first.start, last.end, quote, page=page)


def confidence_features(best: Evidence, scored: Sequence[Evidence]) -> dict[str, float]:
    """The best sentence's features plus its lead over the runner-up (a clear winner is surer)."""
    runner_up = max((e.score for e in scored if e is not best), default=best.score - 1.0)
    return {**best.features, "margin": min(best.score - runner_up, 1.0)}
