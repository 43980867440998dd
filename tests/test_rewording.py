"""Training questions reworded with WordNet: the words a question shares with its answer sentence
are swapped for other terms of the same meaning, and nothing else about the group changes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qa.train.reranker_training import Group
from qa.train.rewording import WordNet, WordNetError, reword, reword_groups

# A few synsets in WordNet 3.0's database layout: (pos, words, tagged sense count, hypernym key).
_SYNSETS = {
    "missile": ("n", ["missile", "rocket"], 9, "weapon"),
    "weapon": ("n", ["weapon", "arm"], 12, None),
    "radar": ("n", ["radar"], 3, "device"),  # no synonym: its broader term stands in
    "device": ("n", ["device"], 20, None),
    "test": ("v", ["test", "prove", "try_out"], 15, None),
    "deploy": ("v", ["deploy"], 6, "position"),  # a verb with no synonym is left alone
    "position": ("v", ["position"], 4, None),
    "test_n": ("n", ["trial", "test"], 5, None),  # "test" as a noun, rarer than the verb
}
_POS_FILE = {"n": "noun", "v": "verb", "a": "adj"}


def write_wordnet(folder: Path, line_end: str = "\n") -> Path:
    """The synsets above as WordNet database files, byte offsets and all."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "  1 A test database in WordNet's layout." + line_end
    offsets: dict[str, int] = {}
    lines: dict[str, list[tuple[str, str]]] = {"n": [], "v": [], "a": []}
    # Offsets first (a line's length does not depend on the offsets it holds: all are 8 digits).
    # Offsets count Unix line ends: the loader reads a CRLF copy as if it had them.
    sizes = {pos: len(header.replace(line_end, "\n")) for pos in lines}
    for key, (pos, words, _, hyper) in _SYNSETS.items():
        offsets[key] = sizes[pos]
        sizes[pos] += len(_synset_line(0, pos, words, hyper and 0)) + 1
    for key, (pos, words, _, hyper) in _SYNSETS.items():
        target = offsets[hyper] if hyper else None
        lines[pos].append((key, _synset_line(offsets[key], pos, words, target)))
    for pos, name in _POS_FILE.items():
        data = header + "".join(line + line_end for _, line in lines[pos])
        (folder / f"data.{name}").write_bytes(data.encode())
        index = []
        for key, (p, words, tagged, _) in _SYNSETS.items():
            if p == pos:
                for word in words:
                    index.append(f"{word} {pos} 1 1 @ 1 {tagged} {offsets[key]:08d}  ")
        (folder / f"index.{name}").write_text(header + "".join(f"{x}\n" for x in sorted(index)))
    (folder / "noun.exc").write_text("")
    (folder / "verb.exc").write_text("proven prove\n")
    return folder


def _synset_line(offset: int, pos: str, words: list[str], hypernym: int | None) -> str:
    pointers = f"001 @ {hypernym:08d} {pos} 0000" if hypernym is not None else "000"
    listed = " ".join(f"{w} 0" for w in words)
    return f"{offset:08d} 05 {pos} {len(words):02x} {listed} {pointers} | a gloss"


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
