"""Questions reworded with WordNet synonyms, so the cross-encoder learns meaning, not shared words.

SQuAD's questions were written beside their paragraph and mostly reuse its words; people asking
about a document they have not memorised use their own ("rockets" for "missiles", "academic" for
"physicist"). A cross-encoder trained on SQuAD alone learns that shared words mean relevance, and
its logit goes negative on such questions. Rewording a training question's words that its answer
sentence also holds, each into a synonym or broader term of the word's commonest sense, gives
that signal without new labels (the answer and the sentences to tell apart stay the same).

WordNet 3.0 is read by ``qa.wordnet`` (``make install`` puts it in ``qa/wordnet-3.0``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from qa.eval.questions import Question
from qa.text import STOPWORDS, stem
from qa.train.reranker_training import Group
from qa.wordnet import WordNet

_WORD = re.compile(r"[A-Za-z]+")


def reword(
    question: str,
    keep_apart_from: Iterable[str],
    wordnet: WordNet,
    rng: random.Random,
    share: float = 0.7,
) -> str:
    """``question`` with its words found in ``keep_apart_from`` (stemmed) each replaced, with
    probability ``share``, by a synonym or a broader term of the word's commonest sense.

    Names (capitalised words past the first), stopwords and short words stay; so does a word with
    no other term for it. The result may equal ``question``.
    """
    shared = {stem(w.lower()) for w in keep_apart_from}
    pieces, last = [], 0
    for match in _WORD.finditer(question):
        word = match.group()
        replacement = None
        if (
            len(word) >= 3
            and word.lower() not in STOPWORDS
            and (match.start() == 0 or not word[0].isupper())
            and stem(word.lower()) in shared
            and rng.random() < share
        ):
            replacement = _other_term(word, wordnet, rng)
        if replacement is not None:
            pieces += [question[last : match.start()], replacement]
            last = match.end()
    return "".join([*pieces, question[last:]])


def _other_term(word: str, wordnet: WordNet, rng: random.Random) -> str | None:
    found = wordnet.base_form(word)
    if found is None:
        return None
    base, pos = found
    sense = wordnet.sense(base, pos)
    if sense is None:
        return None

    def usable(term: str) -> bool:
        return (
            term.lower() == term
            and len(term.split()) <= 2
            and term.replace(" ", "").replace("-", "").isalpha()
            and stem(term.split()[-1]) != stem(base)
        )

    options = [t for t in sense.lemmas if usable(t)][:3]
    if not options and pos == "n":  # a verb's or adjective's broader term rarely reads well
        options = [t for t in sense.broader if usable(t)][:2]
    inflected = word.lower() != base
    if inflected and pos == "v":
        options = [t for t in options if " " not in t]  # "put to death" takes no "-ed"
    if not options:
        return None
    term = _inflect(rng.choice(options), word.lower(), base, pos)
    if term is None:
        return None
    return term[0].upper() + term[1:] if word[0].isupper() else term


def _inflect(term: str, word: str, base: str, pos: str) -> str | None:
    """``term`` given the ending that turned ``base`` into ``word`` (plural, past, -ing...);
    None for an ending it cannot give (irregular forms, comparatives)."""
    if word == base:
        return term
    words = term.split()
    at = -1 if pos == "n" else 0  # "ballistic missiles", "shoot down"
    head = words[at]
    consonant_y = head.endswith("y") and head[-2:-1] not in "aeiou"  # "study" -> "studies"
    if pos == "n" or word.endswith("s") and not word.endswith("ss"):
        sibilant = head.endswith(("s", "x", "z", "ch", "sh"))
        head = head[:-1] + "ies" if consonant_y else head + ("es" if sibilant else "s")
    elif word.endswith("ed"):
        head = head[:-1] + "ied" if consonant_y else head + ("d" if head.endswith("e") else "ed")
    elif word.endswith("ing"):
        head = (head[:-1] if head.endswith("e") and len(head) > 2 else head) + "ing"
    else:
        return None
    words[at] = head
    return " ".join(words)


def reword_groups(
    groups: Sequence[Group], wordnet: WordNet, share: float, seed: int = 0
) -> list[Group]:
    """``groups`` with a ``share`` of them (sampled with ``seed``) asking their question in other
    words than their answer sentence's; a question with nothing to reword stays as it was."""
    rng = random.Random(seed)
    out = []
    for group in groups:
        if rng.random() < share:
            words = _WORD.findall(group.positives[0])
            group = replace(group, question=reword(group.question, words, wordnet, rng))
        out.append(group)
    return out


def reword_questions(
    questions: Sequence[Question], wordnet: WordNet, share: float = 0.7, seed: int = 0
) -> list[Question]:
    """``questions`` with each of their words swapped, with probability ``share``, for another
    term of its commonest sense: asked in other words than whatever sentence answers them (their
    answers unchanged). For fitting the answer gate, whose SQuAD rows otherwise reuse the
    document's words."""
    rng = random.Random(seed)
    return [
        replace(q, question=reword(q.question, _WORD.findall(q.question), wordnet, rng, share))
        for q in questions
    ]
