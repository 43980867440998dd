"""Training questions reworded with WordNet: the words a question shares with its answer sentence
are swapped for other terms of the same meaning, and nothing else about the group changes."""

from __future__ import annotations

import random

import pytest
from wordnets import write_wordnet

from qa.eval.questions import Question
from qa.train.reranker_training import Group
from qa.train.rewording import reword, reword_groups, reword_questions
from qa.wordnet import WordNet, WordNetError


@pytest.fixture(scope="module")
def wordnet(tmp_path_factory) -> WordNet:
    return WordNet(write_wordnet(tmp_path_factory.mktemp("wordnet")))


def test_a_word_shared_with_the_answer_sentence_becomes_a_synonym(wordnet):
    sentence = "The missile was tested over the sea."
    reworded = reword("Which missile was tested?", sentence.split(), wordnet, random.Random(0), 1.0)
    assert reworded in {"Which rocket was proved?", "Which rocket was tried?"}


def test_inflection_follows_the_word_it_replaces(wordnet):
    reworded = reword("Where are the missiles?", ["missiles"], wordnet, random.Random(0), 1.0)
    assert reworded == "Where are the rockets?"


def test_a_noun_without_synonyms_takes_its_broader_term_and_a_verb_stays(wordnet):
    question = "Where will they deploy the radar?"
    reworded = reword(question, ["deploy", "radar"], wordnet, random.Random(0), 1.0)
    assert reworded == "Where will they deploy the device?"


def test_words_the_sentence_lacks_names_and_stopwords_stay(wordnet):
    question = "Did Missile Corp test what the radar found?"
    # "radar" is not in the sentence; "Missile" is a name; "what"/"the" are stopwords.
    reworded = reword(question, ["missile", "test", "what", "the"], wordnet, random.Random(0), 1.0)
    assert reworded.startswith("Did Missile Corp ")
    assert reworded.endswith(" what the radar found?")
    assert " test " not in reworded


def test_the_commonest_part_of_speech_is_read(wordnet):
    assert wordnet.base_form("test") == ("test", "v")  # 15 tagged senses as a verb, 5 as a noun
    assert wordnet.base_form("tested") == ("test", "v")
    assert wordnet.base_form("missiles") == ("missile", "n")
    assert wordnet.base_form("proven") == ("prove", "v")  # from the exception list
    assert wordnet.base_form("zebra") is None


def test_share_zero_changes_nothing(wordnet):
    question = "Which missile was tested?"
    assert reword(question, question.split(), wordnet, random.Random(0), 0.0) == question


def test_a_database_with_windows_line_ends_reads_the_same(tmp_path):
    unix = WordNet(write_wordnet(tmp_path / "lf"))
    windows = WordNet(write_wordnet(tmp_path / "crlf", line_end="\r\n"))
    for base, pos in [("missile", "n"), ("radar", "n"), ("test", "v")]:
        assert windows.sense(base, pos) == unix.sense(base, pos)
    assert unix.sense("radar", "n").broader == ("device",)


def test_a_missing_database_says_how_to_get_it(tmp_path):
    with pytest.raises(WordNetError, match="fetch_wordnet"):
        WordNet(tmp_path / "nowhere")


def test_reworded_groups_keep_their_sentences_and_answer(wordnet):
    groups = [
        Group(
            "Which missile was tested?",
            ("Weapons. The missile was tested.",),
            ("Weapons. Radar was built.",),
            answer=(13, 20),
        )
        for _ in range(20)
    ]
    reworded = reword_groups(groups, wordnet, share=0.5, seed=1)
    changed = [g for g in reworded if g.question != groups[0].question]
    assert 0 < len(changed) < len(groups)
    for before, after in zip(groups, reworded, strict=True):
        assert (after.positives, after.negatives, after.answer) == (
            before.positives,
            before.negatives,
            before.answer,
        )
    assert reword_groups(groups, wordnet, share=0.0) == groups


def test_reworded_questions_keep_their_answers(wordnet):
    questions = [
        Question(f"q{i}", "Which missile was tested?", ("SM-3",), ("a.txt",)) for i in range(20)
    ]
    reworded = reword_questions(questions, wordnet, share=0.5)
    assert {q.question for q in reworded} > {"Which missile was tested?"}
    assert all(
        (r.id, r.answers, r.docs) == (q.id, q.answers, q.docs)
        for q, r in zip(questions, reworded, strict=True)
    )
    assert reword_questions(questions, wordnet, share=0.5) == reworded  # seeded
