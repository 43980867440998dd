"""Full-scale training in installments: a fixed plan, resumed where it stopped, refused on other data."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from qa.read.reranker import CrossEncoder
from qa.train.installments import (
    Progress,
    RunConfig,
    batch_order,
    fingerprint,
    learning_rate_factor,
    pick_sentences,
    run,
)
from qa.train.reranker_training import Group


def _groups(n: int) -> list[Group]:
    groups = []
    for i in range(n):
        answer = f"The castle number {i} was built in {1200 + i} by the duke."
        negatives = tuple(
            f"Other sentence {i}-{k} about towns and {'rivers ' * k}." for k in range(6)
        )
        start = answer.index(str(1200 + i))
        groups.append(
            Group(f"When was castle {i} built?", (answer,), negatives, (start, start + 4))
        )
    groups.append(Group("Who painted the moon?", (), ("A sentence.", "Another one.")))
    return groups


def test_the_plan_covers_every_group_once_an_epoch_and_is_the_same_each_time():
    groups = _groups(45)
    config = RunConfig(groups_per_step=4, bucket_batches=3)
    first = batch_order(groups, config)
    assert first == batch_order(groups, config)
    flat = [i for batch in first for i in batch]
    assert sorted(flat) == list(range(len(groups)))
    assert all(len(b) <= 4 for b in first) and sum(len(b) == 4 for b in first) >= len(first) - 3
    assert batch_order(groups, replace(config, seed=1)) != first
    two = [i for b in batch_order(groups, replace(config, epochs=2.0)) for i in b]
    assert sorted(two) == sorted(list(range(len(groups))) * 2)


def test_picks_start_with_the_positive_and_draw_a_hard_negative_and_one_from_the_rest():
    group = _groups(1)[0]
    for seed in range(20):
        picked = pick_sentences(group, 3, random.Random(seed))
        assert picked[0] == group.positives[0]
        assert picked[1] in group.negatives[:4] and picked[2] in group.negatives[4:]
    assert pick_sentences(group, 3, random.Random(5)) == pick_sentences(group, 3, random.Random(5))
    unanswerable = _groups(1)[-1]
    assert sorted(pick_sentences(unanswerable, 3, random.Random(0))) == sorted(
        unanswerable.negatives
    )


def test_the_learning_rate_climbs_then_falls_to_zero():
    factors = [learning_rate_factor(s, 100, 0.1) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and max(factors) <= 1.0
    assert factors.index(max(factors)) == 9
    assert all(a >= b for a, b in zip(factors[9:], factors[10:], strict=False))
    assert factors[-1] == pytest.approx(0.01)


def test_an_installment_stops_saves_and_the_next_goes_on_where_it_stopped(
    tiny_cross_encoder, tmp_path
):
    groups = _groups(7)  # 8 groups, 2 a step: 4 steps
    config = RunConfig(groups_per_step=2, bucket_batches=2, warmup=0.25, resume_warmup_steps=2)
    state = tmp_path / "run"
    lines: list[str] = []

    first = run(groups, tiny_cross_encoder, state, config, budget_s=0.0, log=lines.append)
    assert first.step == 1 and not first.done  # a spent budget stops after the step in hand
    saved = Progress.load(state)
    assert saved is not None and saved.step == 1 and saved.steps == 4
    assert saved.fingerprint == fingerprint(groups)
    assert CrossEncoder(state).score("When was castle 1 built?", ["A castle."]).shape == (1,)
    assert not (tmp_path / "run.saving").exists() and not (tmp_path / "run.old").exists()

    second = run(groups, tiny_cross_encoder, state, config, log=lines.append)
    assert second.done and Progress.load(state).step == 4
    assert [(i["from"], i["to"]) for i in second.installments] == [(0, 1), (1, 4)]
    assert any("checkpoint: step 4/4" in line for line in lines)

    lines.clear()
    assert run(groups, tiny_cross_encoder, state, config, log=lines.append).done
    assert lines == [f"{state}: the run is complete (4 steps)"]


def test_a_saved_run_is_not_resumed_on_other_data_or_settings(tiny_cross_encoder, tmp_path):
    groups = _groups(3)
    config = RunConfig(groups_per_step=2)
    state = tmp_path / "run"
    run(groups, tiny_cross_encoder, state, config, budget_s=0.0, log=lambda _: None)
    with pytest.raises(ValueError, match="other training data"):
        run(groups[:-1] + _groups(4)[3:4], tiny_cross_encoder, state, config, log=print)
    with pytest.raises(ValueError, match="another config"):
        run(groups, tiny_cross_encoder, state, replace(config, encoder_lr=1e-3), log=print)


def test_bf16_arithmetic_trains_and_is_recorded(tiny_cross_encoder, tmp_path):
    groups = _groups(3)
    config = RunConfig(groups_per_step=2, bucket_batches=2)
    progress = run(
        groups, tiny_cross_encoder, tmp_path / "run", config, log=lambda _: None, bf16=True
    )
    assert progress.done and progress.installments[0]["bf16"] is True
    assert progress.loss is not None and math.isfinite(progress.loss)
