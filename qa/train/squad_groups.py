"""Cross-encoder training groups made straight from a SQuAD training file, with no index.

The reader rereads sentences, so each question becomes a group of sentences headed by the
article's title (``qa.text.titled``, as the reader shows them to the cross-encoder): the one that
holds the gold answer's start, then negatives hardest first. The hardest are the other sentences
of the same paragraph (same subject, same words: only reading the question tells them apart),
then the sentences of the article's other paragraphs that share the most of the question's
weighted terms, the way a lexical ranking would surface them.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.text import content_terms, in_context, split_sentences
from qa.train.reranker_training import Group

# Negatives kept per group: same paragraph first, then the article's best lexical matches.
SAME_PARAGRAPH = 4
SAME_ARTICLE = 4


@dataclass(frozen=True)
class _Sentence:
    paragraph: int
    start: int
    end: int
    text: str
    terms: frozenset[str]
    previous: str  # the sentence before it in its paragraph ("" for the first)

    def shown(self, title: str, context: bool) -> str:
        """The sentence as the cross-encoder reads it: headed by the title (and, with
        ``context``, by the sentence before it)."""
        return in_context(title, self.previous if context else "", self.text)


def squad_groups(
    path: Path,
    seed: int = 0,
    limit: int | None = None,
    *,
    after: int | Sequence[int] = 0,
    low_overlap: float = 0.0,
    context: bool = False,
) -> list[Group]:
    """One group per answerable question of the SQuAD file at ``path`` (at most ``limit``,
    sampled with ``seed``); questions whose answer start falls outside every sentence are left out.

    ``after`` leaves out the questions an earlier run sampled with the same seed and
    ``limit=after`` (a later training stage sees questions the earlier one did not); several
    limits, those of earlier stages in turn, each sampled from what the ones before it left.
    ``low_overlap`` is the share of the sample drawn from the questions sharing the fewest words
    with their answer sentence (the lower half by ``question_overlap``): people word their
    questions their own way, and SQuAD's were mostly written beside the paragraph.
    ``context``: each sentence headed by the one before it too (``qa.text.in_context``).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    groups = [g for article in data["data"] for g in _article_groups(article, context)]
    for earlier in [after] if isinstance(after, int) else after:
        if earlier:
            seen = set(map(id, random.Random(seed).sample(groups, min(earlier, len(groups)))))
            groups = [g for g in groups if id(g) not in seen]
    if limit is None or limit >= len(groups):
        return groups
    if not low_overlap:
        return random.Random(seed).sample(groups, limit)  # as earlier runs sampled
    rng = random.Random(seed)
    low = sorted(groups, key=question_overlap)[: len(groups) // 2]
    picked = rng.sample(low, min(len(low), round(limit * low_overlap)))
    taken = set(map(id, picked))
    picked += rng.sample([g for g in groups if id(g) not in taken], limit - len(picked))
    rng.shuffle(picked)
    return picked


def unanswerable_groups(
    path: Path, questions: Collection[str] | None = None, context: bool = False
) -> list[Group]:
    """One group without positives per unanswerable question (``is_impossible``) of the SQuAD
    v2.0 file at ``path`` (those whose id is in ``questions``, when given): the sentences of its
    paragraph, which it was written to look answerable from, most alike first, then the article's
    best lexical matches.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    groups = []
    for article in data["data"]:
        title, sentences, idf = _article_sentences(article)
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                if not qa.get("is_impossible") or (
                    questions is not None and qa["id"] not in questions
                ):
                    continue
                negatives = _negatives(qa["question"], p, sentences, idf, ())
                groups.append(
                    Group(qa["question"], (), tuple(s.shown(title, context) for s in negatives))
                )
    return groups


def question_overlap(group: Group) -> float:
    """Share of the question's content terms found in its (titled) answer sentence."""
    terms = set(content_terms(group.question))
    if not terms:
        return 1.0
    return len(terms & set(content_terms(group.positives[0]))) / len(terms)


def _article_sentences(article: dict) -> tuple[str, list[_Sentence], dict[str, float]]:
    """An article's title, its paragraphs' sentences and their terms' IDF within the article."""
    title = str(article.get("title", "")).replace("_", " ")
    sentences = [
        _Sentence(
            p,
            start,
            end,
            context[start:end],
            frozenset(content_terms(context[start:end])),
            context[spans[i - 1][0] : spans[i - 1][1]] if i else "",
        )
        for p, paragraph in enumerate(article["paragraphs"])
        for context in [paragraph["context"]]
        for spans in [split_sentences(context)]
        for i, (start, end) in enumerate(spans)
    ]
    df: dict[str, int] = {}
    for s in sentences:
        for term in s.terms:
            df[term] = df.get(term, 0) + 1
    return title, sentences, {t: math.log(1 + len(sentences) / c) for t, c in df.items()}


def _negatives(
    question: str,
    paragraph: int,
    sentences: Sequence[_Sentence],
    idf: dict[str, float],
    positives: Sequence[_Sentence],
) -> list[_Sentence]:
    """The paragraph's other sentences, then the article's others, each sharing most first."""
    q_terms = frozenset(content_terms(question))

    def overlap(s: _Sentence) -> float:
        # Summed in a fixed order: a set's order changes with the process's string hashing,
        # and float sums with it, which would reorder ties from one run to the next.
        return sum(idf.get(t, 0.0) for t in sorted(q_terms & s.terms))

    own = (s for s in sentences if s.paragraph == paragraph and s not in positives)
    same = sorted(own, key=overlap, reverse=True)
    others = sorted((s for s in sentences if s.paragraph != paragraph), key=overlap, reverse=True)
    return [*same[:SAME_PARAGRAPH], *others[:SAME_ARTICLE]]


def _article_groups(article: dict, context: bool) -> Iterator[Group]:
    title, sentences, idf = _article_sentences(article)
    for p, paragraph in enumerate(article["paragraphs"]):
        for qa in paragraph["qas"]:
            if qa.get("is_impossible") or not qa.get("answers"):
                continue
            group = _group(title, paragraph["context"], qa, p, sentences, idf, context)
            if group is not None:
                yield group


def _group(
    title: str,
    text: str,
    qa: dict,
    paragraph: int,
    sentences: Sequence[_Sentence],
    idf: dict[str, float],
    context: bool,
) -> Group | None:
    answer = qa["answers"][0]
    start = int(answer["answer_start"])
    end = start + len(answer["text"])
    own = [s for s in sentences if s.paragraph == paragraph]
    positives = [s for s in own if s.start < end and start < s.end]
    if not positives:
        return None
    negatives = _negatives(qa["question"], paragraph, sentences, idf, positives)
    # An answer that runs over a sentence break: the sentences it spans, read as one.
    positive = text[positives[0].start : positives[-1].end]
    headed = in_context(title, positives[0].previous if context else "", positive)
    shift = len(headed) - len(positive) - positives[0].start
    return Group(
        qa["question"],
        (headed,),
        tuple(s.shown(title, context) for s in negatives),
        answer=(start + shift, end + shift),
    )
