"""The cross-encoder's reread of the linear ranker's best sentences (``qa.read.answer``'s
second pass): which it reads, when it stops, and the evidence it leaves for the gate."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from qa.read.evidence import Evidence
from qa.runtime import available_cores

# Sentences the cross-encoder rereads at least (fewer when the linear ranker keeps fewer).
MIN_REREAD = 2

# One reread sentence: its evidence, the cross-encoder's logit, where the sentence starts in the
# text read, and where the span head puts the answer.
Pair = tuple[Evidence, float, int, Any]


class PairScorer(Protocol):
    """Scores how well each passage answers a question, and where in it the answer lies
    (``qa.read.reranker.CrossEncoder``). One with ``context_sentences`` 1 reads each sentence
    headed by the one before it.
    """

    def read(
        self, question: str, passages: Sequence[str], from_chars: Sequence[int] | None = None
    ) -> tuple[np.ndarray, Sequence[Any]]: ...


@dataclass(frozen=True)
class Reread:
    """The sentences the cross-encoder has read for a question, in the linear ranking's order."""

    evidence: list[Evidence]  # each read sentence's, scored with the cross-encoder's logit
    spans: dict[int, tuple[int, int]]  # sentence id -> the span head's answer in it
    pairs: list[Pair]
    ranked: list[Evidence]  # every candidate by linear score: ``pairs`` read its first ones

    @classmethod
    def of(cls, pairs: list[Pair], ranked: list[Evidence], weights: Mapping[str, Any]) -> Reread:
        spans = {
            e.sentence_id: (span.start - head, span.end - head)
            for e, _, head, span in pairs
            if span is not None
        }
        return cls(reread_evidence(pairs, ranked[0], weights), spans, pairs, ranked)

    @classmethod
    def unread(cls, scored: list[Evidence]) -> Reread:
        """No cross-encoder: the linear ranker's evidence as it is."""
        return cls(scored, {}, [], [])


class Rereader:
    """Rereads a question's candidates with ``cross_encoder``, mixing its logit with the linear
    score by ``weights()`` (the reader model's "rerank" section); ``shown`` gives a sentence as
    the cross-encoder reads it (with ``context`` sentences before it), ``text`` the sentence."""

    def __init__(
        self,
        cross_encoder: PairScorer,
        weights: Callable[[], Mapping[str, Any]],
        shown: Callable[[int, int], str],
        text: Callable[[int], str],
        cache_pairs: int = 0,
    ) -> None:
        self._cross_encoder = cross_encoder
        self._weights = weights
        self._shown = shown
        self._text = text
        # Threads that reread sentences ahead (``rerank``'s ``width``); started when first asked.
        self._ahead = ThreadPoolExecutor(available_cores(), thread_name_prefix="qa-reread")
        # A question asked again (by another user, or for more answers) reads the same pairs:
        # each pair runs alone, so a kept result is exactly what reading it again would give.
        # Keyed by the text read, so a changed document is read anew.
        self._read_text = (
            functools.lru_cache(maxsize=cache_pairs)(self._read_uncached)
            if cache_pairs > 0
            else self._read_uncached
        )

    def rerank(self, question: str, scored: list[Evidence], width: int = 1) -> Reread:
        """The linear ranker's best ``depth`` sentences, rescored with the cross-encoder, and
        where its span head puts the answer in each (character offsets in the sentence); up to
        ``width`` of them read at once.

        The rest are dropped. The cross-encoder costs 6 to 11 ms a sentence (ONNX int8, one
        core, 45 to 90 tokens with question and title), and deeper rereading gains little
        (held-out SQuAD v1.1, top sentence right: linear .764, reread 5 .778, reread 8 or 15 .781).
        """
        weights = self._weights()
        ranked = sorted(scored, key=lambda e: -e.score)
        top = ranked[: int(weights["depth"])]
        # Reread best linear score first, and stop once a sentence could not overtake the leader
        # even with the highest logit the cross-encoder gives (its "ceiling"): the ones after it
        # score lower still. Two at least: the gate weighs the chosen one's lead over the
        # runner-up's logit. SQuAD v1.1 calibration fifth: 3.7 pairs a question instead of 5,
        # not one pick or gate verdict changed, confidence moved by 0.006 on average. With a
        # ceiling for each linear rank (lower ones get lower logits), fewer still.
        ceiling = float(weights.get("ceiling", math.inf))
        ceilings = [float(c) for c in weights.get("ceilings", ())]
        read: list[Pair] = []
        leader = -math.inf
        # With cores to spare (width > 1), the next sentences are read while this one is: each
        # pair still runs alone, so the same pairs give the same answer, sooner (a pair read
        # ahead that the stop below turns out not to need is dropped).
        ahead: dict[int, Future] = {}
        for i, e in enumerate(top):
            if (
                len(read) >= MIN_REREAD
                and weights["cross"] * (ceilings[i] if i < len(ceilings) else ceiling)
                + weights["linear"] * e.score
                <= leader
            ):
                break
            if width > 1:
                for j in range(i, min(i + width, len(top))):
                    if j not in ahead:
                        ahead[j] = self._ahead.submit(self.read_pair, question, top[j])
            item = ahead.pop(i).result() if i in ahead else self.read_pair(question, e)
            read.append(item)
            leader = max(leader, weights["cross"] * item[1] + weights["linear"] * e.score)
        for unneeded in ahead.values():
            unneeded.cancel()
        return Reread.of(read, ranked, weights)

    def read_further(self, question: str, done: Reread, total: int) -> Reread:
        """``done`` with the next sentences of its ranking read too, ``total`` in all (other
        answers than the first need more than the stop in ``rerank`` reads)."""
        more = [self.read_pair(question, e) for e in done.ranked[len(done.pairs) : total]]
        return Reread.of([*done.pairs, *more], done.ranked, self._weights())

    def read_pair(self, question: str, e: Evidence) -> Pair:
        """The cross-encoder's logit for ``e``'s sentence (as it reads it), where the sentence
        starts in what it read, and where its span head puts the answer."""
        context = getattr(self._cross_encoder, "context_sentences", 0)
        text = self._shown(e.sentence_id, context)
        head = len(text) - len(self._text(e.sentence_id))
        logit, found = self._read_text(question, text, head)
        return e, logit, head, found

    def _read_uncached(self, question: str, text: str, head: int) -> tuple[float, Any]:
        logits, found = self._cross_encoder.read(question, [text], [head])
        return float(logits[0]), found[0]


def reread_evidence(
    read: Sequence[Pair], first: Evidence, weights: Mapping[str, Any]
) -> list[Evidence]:
    """Each reread sentence's evidence: its mixed score, and its logit and lead among ``read``."""
    logits = [logit for _, logit, _, _ in read]
    # Each logit's lead over the best of the others: a sentence the cross-encoder prefers
    # clearly is surer than one among equals.
    ordered = sorted(logits, reverse=True)
    leads = [
        x - (ordered[1] if x == ordered[0] and len(ordered) > 1 else ordered[0]) for x in logits
    ]
    return [
        Evidence(
            e.sentence_id,
            weights["cross"] * logit + weights["linear"] * e.score,
            e.rank,
            {
                **e.features,
                "cross": logit,
                "cross_margin": lead,
                "linear": e.score,
                "agree": float(e is first),
            },
        )
        for (e, logit, _, _), lead in zip(read, leads, strict=True)
    ]
