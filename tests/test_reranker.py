"""The cross-encoder: the packaged model, how a setting picks it, and how the reader uses it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qa.config import Settings
from qa.errors import DependencyMissing, InvalidSetting
from qa.read.answer import Reader
from qa.read.reader_model import DEFAULT_RERANK, HAND_SET, Gate, ReaderModel
from qa.read.reranker import PACKAGED, AnswerSpan, CrossEncoder, best_span, load_cross_encoder
from qa.schema import Chunk, Hit, Sentence


@pytest.fixture(scope="module")
def cross_encoder() -> CrossEncoder:
    return CrossEncoder(PACKAGED)


def test_packaged_model_prefers_the_sentence_that_answers(cross_encoder: CrossEncoder) -> None:
    question = "Which team won the championship final in 1998?"
    passages = [
        "The championship final of 1998 was played in Paris before 80,000 people.",
        "The Blue Hawks won the 1998 championship final, beating the Red Foxes 3-0.",
        "Tickets for the final sold out within an hour.",
    ]
    scores = cross_encoder.score(question, passages)
    assert scores.shape == (3,)
    assert scores.dtype == np.float32
    assert int(np.argmax(scores)) == 1


def test_scores_do_not_depend_on_the_batch(cross_encoder: CrossEncoder) -> None:
    question = "When was the bridge opened?"
    short, long = "The bridge opened in 1932.", " ".join(["The river is wide and slow."] * 8)
    alone = cross_encoder.score(question, [short])
    padded = cross_encoder.score(question, [short, long])
    assert abs(float(alone[0]) - float(padded[0])) < 1e-3  # padding must not leak into the mean


def test_no_passages_no_scores(cross_encoder: CrossEncoder) -> None:
    assert cross_encoder.score("Anything?", []).shape == (0,)


def test_setting_off_means_no_cross_encoder() -> None:
    assert load_cross_encoder("off") is None
    assert load_cross_encoder(" OFF ") is None


def test_empty_setting_loads_the_packaged_model() -> None:
    assert isinstance(load_cross_encoder(""), CrossEncoder)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DependencyMissing, match="QA_RERANKER=off"):
        load_cross_encoder(str(tmp_path))


def test_old_reader_model_files_get_the_default_rerank() -> None:
    data = HAND_SET.to_dict()
    del data["rerank"]
    assert dict(ReaderModel.from_dict(data).rerank) == DEFAULT_RERANK


# --- how the reader uses a cross-encoder -----------------------------------------------------------


class KeywordScorer:
    """Scores a passage 1 if it holds ``word`` (stands in for a model to pin the reader's logic)."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[list[str]] = []

    def read(
        self, question: str, passages: Sequence[str], from_chars: Sequence[int] | None = None
    ) -> tuple[np.ndarray, list[AnswerSpan | None]]:
        """A logit per passage, and the keyword itself as the answer span where it occurs."""
        self.calls.append(list(passages))
        scores = np.array([float(self.word in p) for p in passages], dtype=np.float32)
        spans = [
            AnswerSpan(p.index(self.word), p.index(self.word) + len(self.word), 1.0)
            if self.word in p
            else None
            for p in passages
        ]
        return scores, spans


def _reader(
    texts: list[str],
    scorer,
    depth: int,
    gate: Gate | None = None,
    *,
    linear: float = 0.0,
    ceiling: float | None = None,
    cache_pairs: int = 0,
) -> tuple[Reader, list[Hit]]:
    raw, sentences, pos = "", [], 0
    for i, text in enumerate(texts):
        raw += text + " "
        sentences.append(Sentence(i, "doc", text, pos, pos + len(text)))
        pos += len(text) + 1
    vectors = np.eye(len(texts), 4, dtype=np.float32)
    model = ReaderModel(
        score_weights={"cover": 1.0},
        confidence_weights={},
        confidence_bias=5.0,  # always confident: these tests are about which sentence wins
        rerank={
            "depth": depth,
            "cross": 1.0,
            "linear": linear,
            **({} if ceiling is None else {"ceiling": ceiling}),
        },
        gate=gate,
    )
    reader = Reader(
        sentences,
        vectors,
        {"doc": ("Doc", raw)},
        model=model,
        cross_encoder=scorer,
        cache_pairs=cache_pairs,
    )
    chunk = Chunk(0, "doc", raw, 0, len(raw), 50, 0, len(texts) - 1)
    return reader, [Hit(chunk, 1.0, 1)]


def test_cross_encoder_picks_among_the_linear_rankers_best() -> None:
    texts = [
        "Rivers flood in spring when the snow melts.",
        "The spring flood of rivers reached the town hall.",
        "Volunteers built walls of sandbags.",
    ]
    scorer = KeywordScorer("town hall")
    reader, hits = _reader(texts, scorer, depth=2)
    reading = reader.read("Why do rivers flood in spring?", np.zeros(4, np.float32), hits)
    assert reading.text == texts[1]  # the linear model's runner-up, the cross-encoder's first
    read = [p for call in scorer.calls for p in call]
    assert len(read) == 2  # only the linear ranker's best ``depth`` are reread
    assert all(p.startswith("Doc") for p in read)  # headed by the document title
    assert reading.evidence is not None and reading.evidence.features["cross"] == 1.0


def test_sentences_below_the_depth_cannot_win() -> None:
    texts = [
        "Rivers flood in spring when the snow melts.",
        "The spring flood of rivers reached the town hall.",
        "Volunteers built walls of sandbags.",
    ]
    reader, hits = _reader(texts, KeywordScorer("sandbags"), depth=2)
    reading = reader.read("Why do rivers flood in spring?", np.zeros(4, np.float32), hits)
    assert reading.text != texts[2]


_FLOOD = [
    "Rivers flood in spring when the snow melts and the rivers rise.",
    "The spring flood of rivers reached the town hall.",
    "Spring rain made the flood worse.",
    "Volunteers built walls of sandbags.",
]
_FLOOD_QUESTION = "Why do rivers flood in spring when snow melts?"


def test_rereading_stops_once_no_sentence_could_overtake_the_leader() -> None:
    # Linear scores (IDF-weighted cover) fall fast down the list; with the linear weight high
    # and a ceiling of 1 on the logit, the sentences after the first cannot catch it up.
    scorer = KeywordScorer("snow")
    reader, hits = _reader(_FLOOD, scorer, depth=4, linear=10.0, ceiling=1.0)
    reading = reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    assert reading.text == _FLOOD[0]
    read = [p for call in scorer.calls for p in call]
    assert len(read) == 2  # the leader and the runner-up, whose logit the gate weighs
    assert reading.evidence is not None and reading.evidence.features["cross"] == 1.0


def test_without_a_ceiling_every_sentence_to_the_depth_is_reread() -> None:
    scorer = KeywordScorer("snow")
    reader, hits = _reader(_FLOOD, scorer, depth=4, linear=10.0)
    reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    assert sum(len(call) for call in scorer.calls) == 4


def test_a_ceiling_never_changes_the_pick_when_a_later_sentence_can_still_win() -> None:
    # No linear weight: every sentence could still win on its logit, so all are reread and
    # the cross-encoder's favourite (the linear ranker's last) is quoted.
    scorer = KeywordScorer("sandbags")
    reader, hits = _reader(_FLOOD, scorer, depth=4, linear=0.0, ceiling=1.0)
    reading = reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    assert sum(len(call) for call in scorer.calls) == 4
    assert reading.text == _FLOOD[3]


# "rain" is in the third sentence, which the early stop never reads one at a time: read
# ahead, its logit must be dropped, or the leader's lead over the others would change.
@pytest.mark.parametrize(
    ("word", "linear", "ceiling"),
    [("snow", 10.0, 1.0), ("rain", 10.0, 1.0), ("sandbags", 0.0, 1.0)],
)
def test_reading_ahead_on_idle_cores_reads_the_same_pairs_into_the_same_answer(
    word: str, linear: float, ceiling: float
) -> None:
    """Three sentences read at once: the early stop still decides which are used, so the
    answer, its confidence and its features are those of reading one at a time."""
    readings, pairs_read = [], []
    for width in (1, 3):
        scorer = KeywordScorer(word)
        reader, hits = _reader(_FLOOD, scorer, depth=4, linear=linear, ceiling=ceiling)
        question_vector = np.zeros(4, np.float32)
        readings.append(reader.read(_FLOOD_QUESTION, question_vector, hits, width=width))
        pairs_read.append({p for call in scorer.calls for p in call})
    alone, ahead = readings
    assert (ahead.text, ahead.short_answer, ahead.confidence) == (
        alone.text,
        alone.short_answer,
        alone.confidence,
    )
    assert ahead.evidence is not None and alone.evidence is not None
    assert ahead.evidence.features == alone.evidence.features
    assert pairs_read[0] <= pairs_read[1]  # read ahead: perhaps more read, never fewer
    if word == "rain":
        assert len(pairs_read[0]) == 2  # the third, read ahead or not, is not used


def test_a_question_asked_again_is_answered_from_the_kept_readings() -> None:
    scorer = KeywordScorer("town hall")
    reader, hits = _reader(_FLOOD, scorer, depth=4, cache_pairs=16)
    first = reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    read_once = sum(len(call) for call in scorer.calls)
    again = reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    assert sum(len(call) for call in scorer.calls) == read_once  # nothing read a second time
    assert (again.text, again.confidence, again.evidence) == (
        first.text,
        first.confidence,
        first.evidence,
    )
    other = reader.read("Where did the flood reach?", np.zeros(4, np.float32), hits)
    assert sum(len(call) for call in scorer.calls) > read_once  # another question is read
    assert other.text == _FLOOD[1]


def test_the_kept_readings_are_bounded_and_can_be_turned_off() -> None:
    for cache_pairs, reads in ((0, 8), (2, 8), (4, 4)):
        scorer = KeywordScorer("town hall")
        reader, hits = _reader(_FLOOD, scorer, depth=4, cache_pairs=cache_pairs)
        for _ in range(2):
            reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
        # Four pairs a question: two kept are pushed out before they are asked for again.
        assert sum(len(call) for call in scorer.calls) == reads, cache_pairs


def test_with_a_gate_what_the_cross_encoder_read_decides_whether_to_answer() -> None:
    texts = [
        "Rivers flood in spring when the snow melts.",
        "The spring flood of rivers reached the town hall.",
    ]
    gate = Gate({"cross": 10.0}, -5.0, threshold=0.5)  # answer only what it reads as right
    question = "Why do rivers flood in spring?"
    reader, hits = _reader(texts, KeywordScorer("town hall"), depth=2, gate=gate)
    reading = reader.read(question, np.zeros(4, np.float32), hits)
    assert reading.answerable and reading.confidence > 0.99
    assert reading.short_answer == "town hall"  # the span head's pick, in the quoted sentence
    # Same words, but the cross-encoder finds nothing: the (always confident) linear model
    # does not overrule it.
    reader, hits = _reader(texts, KeywordScorer("sandbags"), depth=2, gate=gate)
    reading = reader.read(question, np.zeros(4, np.float32), hits)
    assert not reading.answerable and reading.confidence < 0.01
    assert reader.threshold == 0.5


def test_gate_round_trips_through_the_model_file(tmp_path) -> None:
    model = ReaderModel({"cover": 1.0}, {}, 0.0, gate=Gate({"cross": 1.5, "dense": 2.0}, -1.0, 0.4))
    model.save(tmp_path / "m.json")
    assert ReaderModel.load(tmp_path / "m.json").gate == model.gate
    data = model.to_dict()
    data["gate"]["weights"]["bogus"] = 1.0
    with pytest.raises(ValueError, match="bogus"):
        ReaderModel.from_dict(data)


# --- training helpers ---------------------------------------------------------------------------


def test_pick_puts_a_positive_first_then_the_hardest_negatives() -> None:
    import random

    from qa.train.reranker_training import Group, pick

    group = Group("q", ("right",), tuple(f"wrong {i}" for i in range(10)))
    picked = pick(group, 6, random.Random(0))
    assert picked[0] == "right"
    assert picked[1:5] == ["wrong 0", "wrong 1", "wrong 2", "wrong 3"]
    assert picked[5] in {f"wrong {i}" for i in range(4, 10)}


def test_pick_with_few_negatives_takes_them_all() -> None:
    import random

    from qa.train.reranker_training import Group, pick

    picked = pick(Group("q", ("a", "b"), ("x", "y")), 6, random.Random(0))
    assert picked[0] in {"a", "b"} and picked[1:] == ["x", "y"]


def test_pick_for_a_question_without_an_answer_takes_negatives_only() -> None:
    import random

    from qa.train.reranker_training import Group, pick

    group = Group("q", (), tuple(f"wrong {i}" for i in range(10)))
    picked = pick(group, 4, random.Random(0))
    assert len(picked) == 4
    assert picked[:3] == ["wrong 0", "wrong 1", "wrong 2"]
    assert picked[3] in {f"wrong {i}" for i in range(3, 10)}


def test_fit_mix_finds_the_weight_that_picks_the_right_sentences() -> None:
    from qa.train.reranker_training import Reread, fit_mix

    # The cross-encoder alone picks wrong in the second question; a little of the linear
    # score fixes it; too much of it breaks the first.
    rereads = [
        Reread(linear=(0.0, 1.0), cross=(2.0, 0.0), right=(True, False)),
        Reread(linear=(1.0, 0.0), cross=(0.0, 0.5), right=(True, False)),
        Reread(linear=(0.0, 0.0), cross=(0.0, 1.0), right=(False, False)),  # no right one
    ]
    weight, accuracy = fit_mix(rereads, grid=[0.0, 0.25, 1.0, 3.0])
    assert weight == 1.0 and accuracy == 2 / 3


def test_fit_mix_takes_the_middle_of_a_plateau_not_its_edge() -> None:
    from qa.train.reranker_training import Reread, fit_mix

    # Both questions are picked right for any weight from 0.2 to 1, and one of them also at 0.1
    # and 1.5. The edges are one question from a flip; the middle is not.
    rereads = [
        Reread(linear=(0.0, 1.0), cross=(1.0, 0.0), right=(True, False)),
        Reread(linear=(1.0, 0.0), cross=(0.0, 0.2), right=(True, False)),
    ]
    weight, accuracy = fit_mix(rereads, grid=[0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 1.5])
    assert 0.45 <= weight <= 0.75 and accuracy == 1.0


def test_fit_ceiling_is_a_high_quantile_of_the_logits() -> None:
    from qa.train.reranker_training import Reread, fit_ceiling

    logits = tuple(float(x) for x in range(2000))  # 0 .. 1999
    ceiling = fit_ceiling([Reread(linear=(0.0,) * 2000, cross=logits, right=(False,) * 2000)])
    assert ceiling == 1998.0  # one logit in a thousand reaches it
    with pytest.raises(ValueError):
        fit_ceiling([])


def test_ceilings_bound_each_linear_rank_and_after() -> None:
    from qa.train.reranker_training import Reread, fit_ceiling, fit_ceilings

    # The linear ranker's first sentences get the highest logits, as they do on SQuAD.
    rereads = [
        Reread(linear=(3.0, 2.0, 1.0), cross=(float(i), i / 2, i / 4), right=(True, False, False))
        for i in range(2000)
    ]
    ceilings = fit_ceilings(rereads)
    assert ceilings[0] == fit_ceiling(rereads)
    assert ceilings == sorted(ceilings, reverse=True) and ceilings[2] < ceilings[0] / 2
    assert ceilings[2] == 499.5  # one in a thousand of the third ranks' logits reaches it


def test_a_ceiling_for_each_rank_stops_sooner_with_the_same_pick() -> None:
    scorer = KeywordScorer("snow")  # the first sentence holds it: logit 1, the others 0
    # A ceiling of 2 for all lets the third sentence (linear score a little lower) catch up in
    # principle; one of 0 from the third rank on says it cannot.
    reader, hits = _reader(_FLOOD, scorer, depth=4, linear=0.1, ceiling=2.0)
    everywhere = reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    read_everywhere = sum(len(call) for call in scorer.calls)
    scorer.calls.clear()
    reader.model.rerank["ceilings"] = [2.0, 2.0, 0.0, 0.0]
    by_rank = reader.read(_FLOOD_QUESTION, np.zeros(4, np.float32), hits)
    assert sum(len(call) for call in scorer.calls) == 2 < read_everywhere
    assert by_rank.text == everywhere.text == _FLOOD[0]


def test_a_question_longer_than_the_window_still_scores(cross_encoder: CrossEncoder) -> None:
    question = "Which bridge " + "really " * 300 + "opened in 1932?"
    scores = cross_encoder.score(question, ["The bridge opened in 1932.", "It rained."])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_concurrent_scoring_gives_the_same_scores(cross_encoder: CrossEncoder) -> None:
    from concurrent.futures import ThreadPoolExecutor

    question = "When was the bridge opened?"
    passages = ["The bridge opened in 1932.", "The river is wide.", "It cost two million."]
    alone = cross_encoder.score(question, passages)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cross_encoder.score(question, passages), range(16)))
    for scores in results:
        np.testing.assert_allclose(scores, alone, atol=1e-4)


# --- the span head and training from a SQuAD file -------------------------------------------------


def test_packaged_model_points_at_the_answer(cross_encoder: CrossEncoder) -> None:
    passage = "Bridges. The Golden Gate Bridge opened in 1937 after four years of work."
    head = len("Bridges. ")
    logits, spans = cross_encoder.read(
        "In what year did the Golden Gate Bridge open?", [passage], [head]
    )
    assert logits.shape == (1,)
    span = spans[0]
    assert cross_encoder.reads_spans and span is not None
    assert span.start >= head  # never inside the title that heads the passage
    assert "1937" in passage[span.start : span.end]


def test_best_span_keeps_start_before_end_and_skips_the_heading() -> None:
    offsets = [(0, 0), (0, 3), (4, 9), (10, 14), (15, 20), (0, 0)]
    in_passage = [False, True, True, True, True, False]
    start = np.array([0.0, 9.0, 1.0, 5.0, 0.0, 0.0])
    end = np.array([0.0, 9.0, 0.0, 0.0, 4.0, 0.0])
    span = best_span(start, end, offsets, in_passage, from_char=4)  # token 1 is the heading
    assert (span.start, span.end) == (10, 20) and span.score == 9.0
    assert best_span(start, end, offsets, in_passage, from_char=99) is None


def test_answer_tokens_cover_the_answer_or_say_it_was_cut() -> None:
    from qa.train.reranker_training import answer_tokens

    offsets = [(0, 0), (0, 3), (4, 9), (10, 14), (0, 0)]
    passage = [False, True, True, True, False]
    assert answer_tokens(offsets, passage, (4, 14)) == (2, 3)
    assert answer_tokens(offsets, passage, (5, 7)) == (2, 2)  # inside one token
    assert answer_tokens(offsets, passage, (10, 30)) is None  # runs past the truncated end


def test_group_loss_adds_a_pointwise_term_that_pins_the_level() -> None:
    import torch

    from qa.train.reranker_training import group_loss

    # The same order at two levels: the softmax cannot tell them apart, the pointwise term can.
    low = torch.tensor([-1.0, -5.0, -5.0])
    high = torch.tensor([5.0, 1.0, 1.0])
    assert (
        abs(float(group_loss(torch, low, [3], 0.0)) - float(group_loss(torch, high, [3], 0.0)))
        < 1e-6
    )
    assert float(group_loss(torch, high, [3], 1.0)) != float(group_loss(torch, low, [3], 1.0))
    calibrated = torch.tensor([4.0, -4.0, -4.0])
    assert float(group_loss(torch, calibrated, [3], 1.0)) < float(group_loss(torch, high, [3], 1.0))


def test_a_group_without_an_answer_is_read_by_the_pointwise_term_alone() -> None:
    import torch

    from qa.train.reranker_training import group_loss

    answered = torch.tensor([4.0, -4.0, -4.0])
    # No softmax term for the unanswerable group: only the level of its logits counts, and
    # every one of them is a negative.
    for logits in (torch.tensor([2.0, -1.0, -1.0]), torch.tensor([-6.0, -6.0, -6.0])):
        both = group_loss(torch, torch.cat([answered, logits]), [3, 3], 1.0, [True, False])
        alone = group_loss(torch, answered, [3], 0.0)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.cat([answered, logits]), torch.tensor([1.0, 0, 0, 0, 0, 0])
        )
        assert abs(float(both) - float(alone + bce)) < 1e-5
    low = torch.tensor([-6.0, -6.0, -6.0])
    high = torch.tensor([2.0, 2.0, 2.0])
    assert float(group_loss(torch, low, [3], 1.0, [False])) < float(
        group_loss(torch, high, [3], 1.0, [False])
    )


def test_training_on_questions_without_an_answer_needs_the_pointwise_term(tmp_path) -> None:
    from qa.train.reranker_training import Group, TrainingConfig, train

    with pytest.raises(ValueError, match="pointwise"):
        train([Group("q", (), ("x", "y"))], tmp_path, tmp_path / "out", TrainingConfig())


def test_unanswerable_groups_hold_the_sentences_the_question_was_written_beside(tmp_path) -> None:
    import json

    from qa.train.squad_groups import squad_groups, unanswerable_groups

    context = "The bridge crosses the bay. It opened in 1937 after four years."
    other = "The bay is cold. Fog covers the bridge in summer."
    qas = [
        {"id": "a1", "question": "When did the bridge open?", "is_impossible": False,
         "answers": [{"text": "1937", "answer_start": context.index("1937")}]},
        {"id": "u1", "question": "When did the bridge close?", "is_impossible": True,
         "answers": []},
        {"id": "u2", "question": "Who painted the bridge?", "is_impossible": True,
         "answers": []},
    ]  # fmt: skip
    squad = {
        "data": [
            {
                "title": "Golden_Gate",
                "paragraphs": [{"context": context, "qas": qas}, {"context": other, "qas": []}],
            }
        ]
    }
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    groups = unanswerable_groups(path)
    assert [g.question for g in groups] == ["When did the bridge close?", "Who painted the bridge?"]
    first = groups[0]
    assert first.positives == () and first.answer is None
    # Its own paragraph's sentences first, the one sharing most of the question first.
    assert first.negatives[:2] == (
        "Golden Gate. The bridge crosses the bay.",
        "Golden Gate. It opened in 1937 after four years.",
    )
    assert set(first.negatives[2:]) == {
        "Golden Gate. The bay is cold.",
        "Golden Gate. Fog covers the bridge in summer.",
    }
    assert [g.question for g in unanswerable_groups(path, {"u2"})] == ["Who painted the bridge?"]
    # The answerable file reading leaves them out.
    assert [g.question for g in squad_groups(path)] == ["When did the bridge open?"]


def _bridge_squad(tmp_path):
    """A SQuAD file of one article: a question on the middle sentence of its first paragraph."""
    import json

    context = (
        "The bridge crosses the bay. It opened in 1937 after four years. "
        "Its towers are painted orange."
    )
    other = "The bay is cold. Fog covers the bridge in summer."
    squad = {
        "data": [
            {
                "title": "Golden_Gate",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "When did the bridge open?",
                                "answers": [
                                    {"text": "1937", "answer_start": context.index("1937")}
                                ],
                            }
                        ],
                    },
                    {"context": other, "qas": []},
                ],
            }
        ]
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    return path


def test_squad_groups_put_the_answer_sentence_first_with_its_answer_offsets(tmp_path) -> None:
    from qa.train.squad_groups import squad_groups

    (group,) = squad_groups(_bridge_squad(tmp_path))
    assert group.question == "When did the bridge open?"
    assert group.positives == ("Golden Gate. It opened in 1937 after four years.",)
    start, end = group.answer
    assert group.positives[0][start:end] == "1937"
    # Its own paragraph's other sentences come first, then the rest of the article.
    assert set(group.negatives[:2]) == {
        "Golden Gate. The bridge crosses the bay.",
        "Golden Gate. Its towers are painted orange.",
    }
    assert group.negatives[2] == "Golden Gate. Fog covers the bridge in summer."


def test_squad_groups_with_context_head_each_sentence_with_the_one_before_it(tmp_path) -> None:
    from qa.train.squad_groups import squad_groups

    (group,) = squad_groups(_bridge_squad(tmp_path), context=True)
    # "It" is the bridge only with the sentence before; a paragraph's first sentence has none.
    assert group.positives == (
        "Golden Gate. The bridge crosses the bay. It opened in 1937 after four years.",
    )
    start, end = group.answer
    assert group.positives[0][start:end] == "1937"
    assert set(group.negatives[:2]) == {
        "Golden Gate. The bridge crosses the bay.",
        "Golden Gate. It opened in 1937 after four years. Its towers are painted orange.",
    }
    assert group.negatives[2] == "Golden Gate. The bay is cold. Fog covers the bridge in summer."


def test_training_with_context_writes_a_model_the_reader_shows_context(
    tiny_cross_encoder, tmp_path
) -> None:
    import json

    from qa.train.reranker_training import TrainingConfig, train
    from qa.train.squad_groups import squad_groups

    groups = squad_groups(_bridge_squad(tmp_path), context=True)
    config = TrainingConfig(group_size=3, groups_per_step=1, pointwise=0.5, span=1.0)
    train(groups, tiny_cross_encoder, tmp_path / "plain", config, log=lambda _: None)
    with_context = TrainingConfig(**{**config.__dict__, "context_sentences": 1})
    train(groups, tiny_cross_encoder, tmp_path / "context", with_context, log=lambda _: None)
    head = json.loads((tmp_path / "context" / "head.json").read_text(encoding="utf-8"))
    assert head["context_sentences"] == 1
    assert CrossEncoder(tmp_path / "context").context_sentences == 1
    assert CrossEncoder(tmp_path / "plain").context_sentences == 0
    assert "context_sentences" not in json.loads(
        (tmp_path / "plain" / "head.json").read_text(encoding="utf-8")
    )


def test_a_cross_encoder_with_context_reads_each_sentence_after_the_one_before_it() -> None:
    texts = [
        "The committee met in Geneva.",
        "It chose a new chair in March.",
        "Snow closed the roads.",
    ]
    scorer = KeywordScorer("March")
    scorer.context_sentences = 1  # type: ignore[attr-defined]
    reader, hits = _reader(texts, scorer, depth=3)
    reading = reader.read("When did the committee choose a chair?", np.zeros(4, np.float32), hits)
    read = {p for call in scorer.calls for p in call}
    assert "Doc. The committee met in Geneva. It chose a new chair in March." in read
    assert "Doc. The committee met in Geneva." in read  # a document's first: the title alone
    assert reading.text is not None and reading.text.endswith(texts[1])
    assert reading.short_answer == "March"  # the span, found after the context, maps back


def _squad_file(tmp_path, questions: list[tuple[str, str]]):
    """A one-paragraph SQuAD file whose questions all ask about one of its sentences."""
    import json

    context = "The lighthouse was built by Robert Stevenson in 1810. It stands on a reef."
    qas = [
        {
            "id": f"q{i}",
            "question": question,
            "answers": [{"text": answer, "answer_start": context.index(answer)}],
        }
        for i, (question, answer) in enumerate(questions)
    ]
    squad = {"data": [{"title": "Bell_Rock", "paragraphs": [{"context": context, "qas": qas}]}]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    return path


def test_a_later_training_stage_samples_questions_the_earlier_one_did_not(tmp_path) -> None:
    from qa.train.squad_groups import squad_groups

    path = _squad_file(
        tmp_path, [(f"Who built the lighthouse {i}?", "Robert Stevenson") for i in range(20)]
    )
    first = {g.question for g in squad_groups(path, seed=0, limit=8)}
    later = {g.question for g in squad_groups(path, seed=0, limit=8, after=8)}
    assert len(first) == len(later) == 8
    assert not first & later
    assert {g.question for g in squad_groups(path, seed=0, after=8)} == {
        f"Who built the lighthouse {i}?" for i in range(20)
    } - first


def test_a_third_stage_leaves_out_what_both_earlier_stages_sampled(tmp_path) -> None:
    from qa.train.squad_groups import squad_groups

    path = _squad_file(
        tmp_path, [(f"Who built the lighthouse {i}?", "Robert Stevenson") for i in range(20)]
    )
    first = {g.question for g in squad_groups(path, seed=0, limit=8)}
    second = {g.question for g in squad_groups(path, seed=0, limit=6, after=8)}
    third = {g.question for g in squad_groups(path, seed=0, after=[8, 6])}
    assert len(first) == 8 and len(second) == 6 and len(third) == 6
    assert not third & (first | second)
    assert squad_groups(path, seed=0, after=[8]) == squad_groups(path, seed=0, after=8)


def test_a_low_overlap_sample_favours_questions_worded_unlike_their_answer(tmp_path) -> None:
    from qa.train.squad_groups import question_overlap, squad_groups

    lexical = [(f"Who built the lighthouse in 1810 {i}?", "Robert Stevenson") for i in range(10)]
    worded = [(f"Which engineer was behind the beacon {i}?", "Robert Stevenson") for i in range(10)]
    path = _squad_file(tmp_path, lexical + worded)
    plain = squad_groups(path, seed=0, limit=6)
    favoured = squad_groups(path, seed=0, limit=6, low_overlap=1.0)
    assert all(g.question.startswith("Which engineer") for g in favoured)
    assert sum(map(question_overlap, favoured)) < sum(map(question_overlap, plain))
    assert plain == squad_groups(path, seed=0, limit=6)  # without it, sampling is as before


def test_the_kept_readings_are_a_setting() -> None:
    assert Settings.from_env({"QA_PAIR_CACHE": "0"}).pair_cache == 0
    assert Settings().pair_cache > 0
    with pytest.raises(InvalidSetting, match="QA_PAIR_CACHE=-1 must be 0"):
        Settings(pair_cache=-1)
