"""Words of the same meaning: WordNet's links from a question's words to a sentence's, and the
reader's "related" feature that counts them."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from wordnets import write_wordnet

from qa.read import related_terms
from qa.read.answer import Reader
from qa.read.related_terms import PACKAGED_WORDNET, RelatedTerms, load_related_terms
from qa.schema import Chunk, Hit, Sentence
from qa.text import stem
from qa.wordnet import WordNet, WordNetError


@pytest.fixture(scope="module")
def wordnet(tmp_path_factory) -> WordNet:
    return WordNet(write_wordnet(tmp_path_factory.mktemp("wordnet")))


def test_related_words_are_synonyms_and_broader_and_narrower_terms(wordnet):
    assert wordnet.related("missile") == {"rocket", "weapon", "arm"}
    assert wordnet.related("rockets") == {"missile", "weapon", "arm"}  # inflected
    assert wordnet.related("weapon") == {"arm", "missile", "rocket"}  # narrower terms too
    assert wordnet.related("radar") == {"device"}
    assert wordnet.related("zebra") == frozenset()


def test_every_part_of_speech_is_read_and_multiword_lemmas_left_out(wordnet):
    # "test" as a verb (prove, try_out) and as a noun (trial); "try out" is two words.
    assert wordnet.related("test") == {"prove", "trial"}


def test_a_question_word_links_to_the_stems_of_its_related_words(wordnet):
    links = RelatedTerms(wordnet).of_question("Which rockets did Russia's army test?")
    assert links[stem("rockets")] == {stem("missile"), stem("weapon"), stem("arm")}
    assert links[stem("test")] == {stem("prove"), stem("trial")}
    assert set(links) == {stem("rockets"), stem("test")}  # stopwords and unknown words: none


def _reader(wordnet: WordNet | None) -> tuple[Reader, list[Hit]]:
    texts = {"a.txt": "The missile flew 300 km.", "b.txt": "The rocket launcher was sold."}
    sentences = [Sentence(i, d, t, 0, len(t)) for i, (d, t) in enumerate(texts.items())]
    hits = [
        Hit(Chunk(i, s.doc_id, s.text, 0, len(s.text), 8, i, i), 1.0, i + 1)
        for i, s in enumerate(sentences)
    ]
    reader = Reader(
        sentences,
        np.eye(2, 8, dtype=np.float32),
        {d: ("", t) for d, t in texts.items()},
        related_terms=RelatedTerms(wordnet) if wordnet else None,
    )
    return reader, hits


def test_the_reader_counts_question_terms_a_sentence_holds_only_in_other_words(wordnet):
    reader, hits = _reader(wordnet)
    question = "How far did the rocket fly?"
    related = {
        e.sentence_id: e.features["related"]
        for e in reader.candidates(question, np.ones(8, dtype=np.float32), hits)
    }
    # "rocket" is missing from the first sentence but it holds "missile"; the second holds the
    # word itself, which "window" and "cover" count instead.
    assert related[0] > 0.0
    assert related[1] == 0.0
    plain, hits = _reader(None)
    features = plain.candidates(question, np.ones(8, dtype=np.float32), hits)
    assert all(e.features["related"] == 0.0 for e in features)


def test_a_folder_that_is_not_wordnet_is_an_error(tmp_path):
    with pytest.raises(WordNetError, match="fetch_wordnet"):
        load_related_terms(tmp_path)


def test_without_the_packaged_wordnet_the_reader_matches_words_only(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(related_terms, "PACKAGED_WORDNET", tmp_path / "missing")
    load_related_terms.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="qa.read.related_terms"):
            assert load_related_terms() is None
        assert "make install" in caplog.text
    finally:
        load_related_terms.cache_clear()


def test_make_install_puts_wordnet_in_the_package():
    """The service's reader needs it: `make install` runs scripts/fetch_wordnet.sh."""
    assert (PACKAGED_WORDNET / "index.noun").is_file(), "run `make install`"
    links = load_related_terms().of_question("Which warship fired Tehran's rockets?")
    assert stem("cruiser") in links[stem("warship")]
    assert stem("Iran") in links[stem("Tehran")]
    assert stem("missiles") in links[stem("rockets")]


def _known(reader: Reader, hits: list[Hit], question: str) -> float:
    found = {
        e.features["known"] for e in reader.candidates(question, np.ones(8, dtype=np.float32), hits)
    }
    assert len(found) == 1  # one figure for the question, the same on every candidate
    return found.pop()


def test_known_is_the_share_of_the_question_the_collection_speaks_of(wordnet):
    reader, hits = _reader(wordnet)
    assert _known(reader, hits, "Was the missile launcher sold?") == 1.0  # every word held
    # "sold" is there as itself; "weapons" only through WordNet ("missile", "rocket").
    assert _known(reader, hits, "Which weapons were sold?") == 1.0
    assert _known(reader, hits, "Who painted the zebra?") == 0.0  # about something else
    partly = _known(reader, hits, "Who painted the missile?")
    assert 0.0 < partly < 1.0
    plain, hits = _reader(None)  # without WordNet only the words themselves count
    assert _known(plain, hits, "Which weapons were sold?") < 1.0
