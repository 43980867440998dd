"""Words of the same meaning as a question's: "rockets" finds a sentence about missiles.

People who ask about a document they have not memorised use their own words ("warship" for
"cruiser", "Tehran" for "Iran", "pact" for "treaty"); words shared with the answer sentence are
then few, and the reader's lexical features see nothing. For each of the question's words this
gives the stems of the words WordNet links to it (``qa.wordnet.WordNet.related``); the reader
counts the question's terms that a sentence lacks but holds a linked word for.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

from qa.text import STOPWORDS, stem, words
from qa.wordnet import WordNet

# Question words looked up; a server answers many questions with the same words.
_CACHED_WORDS = 50_000


class RelatedTerms:
    """Stems of the words linked in WordNet to each of a question's words."""

    def __init__(self, wordnet: WordNet) -> None:
        self._wordnet = wordnet
        self._of_word = functools.lru_cache(maxsize=_CACHED_WORDS)(self._look_up)

    @classmethod
    def load(cls, folder: Path) -> RelatedTerms:
        """From a WordNet 3.0 database folder (``WordNetError`` when it is not one)."""
        return cls(WordNet(folder))

    def of_question(self, question: str) -> Mapping[str, frozenset[str]]:
        """Each content word's stem -> the stems of its linked words (none: left out)."""
        links: dict[str, frozenset[str]] = {}
        for word in words(question):
            if word.lower() in STOPWORDS or "-" in word:
                continue
            related = self._of_word(word.lower().replace("’", "'").removesuffix("'s"))
            if related:
                key = stem(word)
                links[key] = links.get(key, frozenset()) | related
        return links

    def _look_up(self, word: str) -> frozenset[str]:
        own = stem(word)
        return frozenset(
            s for w in self._wordnet.related(word) if w not in STOPWORDS and (s := stem(w)) != own
        )


# Where `make install` puts WordNet (scripts/fetch_wordnet.sh): beside the package, ignored by git.
PACKAGED_WORDNET = Path(__file__).resolve().parent.parent / "wordnet-3.0"
_log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def load_related_terms(folder: Path | None = None) -> RelatedTerms | None:
    """The related terms of WordNet in ``folder`` (an error when it is not WordNet), else of the
    packaged copy; None, with a warning, when there is none: the reader then matches words only.

    Loaded once a process and shared: it is read-only and takes about a second and 91 MiB.
    """
    if folder is not None:
        return RelatedTerms.load(folder)
    if not (PACKAGED_WORDNET / "index.noun").is_file():
        _log.warning(
            "no WordNet in %s: questions match sentences by their own words only "
            "(run `make install`, or scripts/fetch_wordnet.sh %s)",
            PACKAGED_WORDNET,
            PACKAGED_WORDNET,
        )
        return None
    return RelatedTerms.load(PACKAGED_WORDNET)
