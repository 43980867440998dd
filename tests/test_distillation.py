"""Teaching a shallower cross-encoder the trained one's scores (qa.train.distillation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import qa
from qa.read.reader_model import ReaderModel
from qa.read.reranker import (
    PACKAGED,
    PACKAGED_FAST,
    CrossEncoder,
    fitted_reader_model,
    load_cross_encoder,
    reranker_folder,
)
from qa.train.distillation import (
    DistillationConfig,
    distill,
    keep_layers,
    order_loss,
    span_distillation_loss,
)
from qa.train.reranker_training import Group

LIGHTHOUSE = "Harbour. The lighthouse was designed by Thomas Stevenson in 1870."
TART = "Baking. Bake the tart for 40 minutes at 180 degrees."
GROUPS = [
    Group(
        "Who designed the lighthouse?",
        (LIGHTHOUSE,),
        (
            "Harbour. The harbour lies on the east coast of Scotland.",
            "Harbour. Boats leave for the islands every morning at seven.",
            "Harbour. The museum opens at ten and closes at five.",
        ),
        answer=(LIGHTHOUSE.index("Thomas"), LIGHTHOUSE.index(" in 1870")),
    ),
    Group(
        "How long should the tart bake?",
        (TART,),
        (
            "Baking. Butter the tin and line it with paper.",
            "Baking. Serve it warm with cream.",
            "Baking. The recipe comes from the author's grandmother.",
        ),
        answer=(TART.index("40"), TART.index(" at 180")),
    ),
]


@pytest.fixture(scope="module")
def tiny_teacher(tiny_cross_encoder: Path) -> Path:
    return tiny_cross_encoder


def test_keep_layers_copies_only_the_chosen_layers(tiny_teacher: Path) -> None:
    from transformers import AutoModel

    teacher = AutoModel.from_pretrained(str(tiny_teacher))
    student = keep_layers(teacher, [0, 3])
    assert len(student.encoder.layer) == 2 and student.config.num_hidden_layers == 2
    assert len(teacher.encoder.layer) == 4 and teacher.config.num_hidden_layers == 4
    kept = student.encoder.layer[1].output.dense.weight
    assert torch.equal(kept, teacher.encoder.layer[3].output.dense.weight)
    with torch.no_grad():
        kept.add_(1.0)  # a copy: training the student leaves the teacher as it was
    assert not torch.equal(kept, teacher.encoder.layer[3].output.dense.weight)


@pytest.mark.parametrize("layers", [[], [0, 4], [2, 1], [1, 1]])
def test_keep_layers_refuses_indices_out_of_range_or_order(tiny_teacher: Path, layers) -> None:
    from transformers import AutoModel

    with pytest.raises(ValueError, match="layers"):
        keep_layers(AutoModel.from_pretrained(str(tiny_teacher)), layers)


def test_order_loss_is_least_when_the_student_orders_the_group_as_the_teacher() -> None:
    teacher = torch.tensor([3.0, 0.0, -1.0, 1.0, 2.0])
    same = order_loss(torch, teacher.clone(), teacher, [3, 2])
    flipped = order_loss(torch, torch.tensor([-1.0, 0.0, 3.0, 2.0, 1.0]), teacher, [3, 2])
    shifted = order_loss(torch, teacher + 5.0, teacher, [3, 2])  # the level is MSE's job
    assert float(same) < float(flipped)
    assert float(shifted) == pytest.approx(float(same), abs=1e-5)


def test_span_loss_reads_only_passage_tokens() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(2, 6, 2)
    passage = torch.tensor([[False, False, True, True, True, False]] * 2)
    student = torch.randn(2, 6, 2)
    moved = student.clone()
    moved[:, [0, 1, 5], :] += 50.0  # question and separator tokens cannot hold the answer
    assert float(span_distillation_loss(torch, moved, teacher, passage)) == pytest.approx(
        float(span_distillation_loss(torch, student, teacher, passage)), abs=1e-5
    )
    assert float(span_distillation_loss(torch, teacher, teacher, passage)) < float(
        span_distillation_loss(torch, student, teacher, passage)
    )


def _gap(student: CrossEncoder, teacher: CrossEncoder) -> float:
    gaps = []
    for group in GROUPS:
        texts = [*group.positives, *group.negatives]
        gaps.append(student.score(group.question, texts) - teacher.score(group.question, texts))
    return float(np.mean(np.concatenate(gaps) ** 2))


def test_distill_writes_a_shallower_cross_encoder_that_scores_closer_to_its_teacher(
    tiny_teacher: Path, tmp_path: Path
) -> None:
    config = DistillationConfig(
        layers=(0, 2), groups_per_step=2, epochs=30, encoder_lr=1e-3, head_lr=1e-2, seed=0
    )
    distill(
        GROUPS, tiny_teacher, tmp_path / "student", config, {"note": "test"}, log=lambda _: None
    )
    teacher = CrossEncoder(tiny_teacher)
    student = CrossEncoder(tmp_path / "student")
    assert json.loads((tmp_path / "student" / "config.json").read_text())["num_hidden_layers"] == 2
    assert student.reads_spans
    provenance = student.provenance
    assert provenance["note"] == "test" and provenance["steps"] == "30 of 30, 2 groups each"

    # Where it started: the same layers and heads, untrained.
    distill(
        GROUPS,
        tiny_teacher,
        tmp_path / "untrained",
        DistillationConfig(layers=(0, 2), groups_per_step=2, epochs=1, encoder_lr=0.0, head_lr=0.0),
        log=lambda _: None,
    )
    untrained = CrossEncoder(tmp_path / "untrained")
    assert _gap(student, teacher) < 0.5 * _gap(untrained, teacher)


def test_going_on_from_a_student_keeps_its_depth_and_refuses_another(
    tiny_teacher: Path, tmp_path: Path
) -> None:
    quick = DistillationConfig(layers=(0, 2), groups_per_step=2, epochs=1, gold_span=1.0)
    distill(GROUPS, tiny_teacher, tmp_path / "first", quick, log=lambda _: None)
    distill(
        GROUPS,
        tiny_teacher,
        tmp_path / "second",
        quick,
        log=lambda _: None,
        start=tmp_path / "first",
    )
    config = json.loads((tmp_path / "second" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    with pytest.raises(ValueError, match="2 layers, not 3"):
        distill(
            GROUPS,
            tiny_teacher,
            tmp_path / "third",
            DistillationConfig(layers=(0, 1, 2), groups_per_step=2, epochs=1),
            log=lambda _: None,
            start=tmp_path / "first",
        )


def test_fast_names_the_packaged_student_with_the_reader_model_fitted_on_it() -> None:
    assert reranker_folder("fast") == reranker_folder(" FAST ") == PACKAGED_FAST
    assert reranker_folder("") == PACKAGED and reranker_folder("off") is None
    fitted = fitted_reader_model("fast")
    assert fitted is not None and fitted.parent == PACKAGED_FAST
    assert fitted_reader_model("") is None  # the packaged model's mix is qa/reader_model.json
    assert fitted_reader_model("off") is None
    assert ReaderModel.load(fitted).rerank != ReaderModel.load().rerank
    config = json.loads((PACKAGED_FAST / "config.json").read_text())
    assert config["num_hidden_layers"] == 3


def test_the_fast_student_prefers_the_sentence_that_answers() -> None:
    student = load_cross_encoder("fast")
    question = "Which team won the championship final in 1998?"
    passages = [
        "The championship final of 1998 was played in Paris before 80,000 people.",
        "The Blue Hawks won the 1998 championship final, beating the Red Foxes 3-0.",
        "Tickets for the final sold out within an hour.",
    ]
    assert int(np.argmax(student.score(question, passages))) == 1
    passage = "Bridges. The Golden Gate Bridge opened in 1937 after four years of work."
    _, spans = student.read("In what year did the Golden Gate Bridge open?", [passage], [9])
    assert spans[0] is not None and "1937" in passage[spans[0].start : spans[0].end]


def test_a_pipeline_with_the_fast_student_reads_its_fitted_mix(seed_settings) -> None:
    from dataclasses import replace

    from qa.pipeline import QAPipeline

    pipeline = QAPipeline.load(replace(seed_settings, reranker="fast"))
    assert pipeline._reader.model.rerank == ReaderModel.load(fitted_reader_model("fast")).rerank
    answer = pipeline.ask("When did NATO and Russia agree to cooperate on missile defence?")
    assert answer.answerable and answer.citations
    packaged = Path(qa.__file__).parent / "reader_model.json"
    explicit = QAPipeline.load(replace(seed_settings, reranker="fast", reader_model=packaged))
    assert explicit._reader.model.rerank == ReaderModel.load().rerank  # QA_READER_MODEL wins
