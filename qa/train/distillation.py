"""A shallower cross-encoder taught by the trained one (see ``qa.read.reranker``).

The reread is most of a question's CPU time (about 80%, a 6-layer MiniLM on each pair), so a
student with half the layers answers about twice as many questions a second. It starts as a copy of
the teacher keeping every other layer, with the teacher's heads, and learns to give the teacher's
numbers, not only its order: the reader mixes the logit with the linear score, stops rereading at
a ceiling and gates on it, so its level matters as much as the ranking.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.read.reranker import mean_pool
from qa.train.reranker_training import (
    Group,
    _heads,
    encode_pairs,
    keep_going,
    optimise,
    save,
    span_loss,
    step_batch,
)


@dataclass(frozen=True)
class DistillationConfig:
    layers: tuple[int, ...] = (0, 2, 4)  # the teacher's layers the student keeps, bottom first
    group_size: int = 4
    groups_per_step: int = 8
    epochs: float = 1.0
    encoder_lr: float = 8e-5  # higher than fine-tuning's: the kept layers must close the gaps
    head_lr: float = 1e-3
    scale: float = 20.0  # the teacher's head scale (``TrainingConfig.scale``)
    # Weights of the three terms: the logit itself, the order within a
    # group, and where the answer lies in each sentence.
    logit: float = 1.0
    order: float = 1.0
    span: float = 1.0
    # Weight of the gold answer's span (``reranker_training.span_loss``) beside the teacher's:
    # three layers found where the answer lies less well from the teacher's guesses alone.
    gold_span: float = 0.0
    time_budget_s: float | None = None
    seed: int = 0


def keep_layers(encoder, layers: Sequence[int]):
    """A copy of a BERT-style ``encoder`` with only the transformer ``layers`` (indices, in order)."""
    student = copy.deepcopy(encoder)
    count = len(encoder.encoder.layer)
    if not layers or any(not 0 <= i < count for i in layers) or list(layers) != sorted(set(layers)):
        raise ValueError(f"layers must be distinct indices in 0..{count - 1}, in order: {layers}")
    student.encoder.layer = type(encoder.encoder.layer)([student.encoder.layer[i] for i in layers])
    student.config.num_hidden_layers = len(layers)
    return student


def order_loss(torch, student, teacher, sizes: Sequence[int]):
    """Mean over groups (consecutive runs of ``sizes``) of the cross-entropy from the teacher's
    softmax over the group's logits to the student's.
    """
    total, k = 0.0, 0
    for size in sizes:
        target = torch.softmax(teacher[k : k + size], dim=0)
        total = total - (target * torch.log_softmax(student[k : k + size], dim=0)).sum()
        k += size
    return total / len(sizes)


def span_distillation_loss(torch, student, teacher, passage):
    """Cross-entropy from the teacher's start and end distributions over each pair's passage
    tokens to the student's; ``student``/``teacher`` are [pairs, tokens, 2], ``passage`` a bool
    mask [pairs, tokens] of the tokens an answer may start or end on.
    """
    masked = passage.unsqueeze(-1)
    target = torch.softmax(teacher.masked_fill(~masked, float("-inf")), dim=1)
    log_student = torch.log_softmax(student.masked_fill(~masked, float("-inf")), dim=1)
    terms = (target * log_student.masked_fill(~masked, 0.0)).sum(dim=1)  # [pairs, 2]
    return -terms.mean()


def distill(
    groups: Sequence[Group],
    teacher_folder: Path,
    out: Path,
    config: DistillationConfig = DistillationConfig(),
    provenance: dict | None = None,
    log: Callable[[str], None] = print,
    start: Path | None = None,
) -> None:
    """Teach a ``config.layers``-deep copy of the cross-encoder in ``teacher_folder`` on the
    sentences of ``groups`` and write it, heads included, as a ``qa.read.reranker`` folder to ``out``.

    ``start``: a student an earlier run wrote, to go on teaching instead of a fresh copy.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    folder = Path(teacher_folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    teacher = AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
    teacher.eval()
    head, span_head = _heads(torch, teacher.config.hidden_size, folder, config.scale)
    if start is None:
        student = keep_layers(teacher, config.layers)
        student_head, student_span = copy.deepcopy(head), copy.deepcopy(span_head)
    else:
        student = AutoModel.from_pretrained(str(start), local_files_only=True, dtype=torch.float32)
        if student.config.num_hidden_layers != len(config.layers):
            raise ValueError(
                f"{start} has {student.config.num_hidden_layers} layers, not {len(config.layers)}"
            )
        student_head, student_span = _heads(
            torch, student.config.hidden_size, Path(start), config.scale
        )
    for p in [*teacher.parameters(), *head.parameters(), *span_head.parameters()]:
        p.requires_grad = False
    for p in student.embeddings.parameters():
        p.requires_grad = False  # shared vocabulary, as in fine-tuning
    student.train()

    steps = int(-(-len(groups) // config.groups_per_step) * config.epochs)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for p in student.parameters() if p.requires_grad],
                "lr": config.encoder_lr,
            },
            {
                "params": [*student_head.parameters(), *student_span.parameters()],
                "lr": config.head_lr,
            },
        ],
        weight_decay=0.01,
    )
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    order = [
        i
        for _ in range(int(config.epochs) + 1)
        for i in rng.sample(range(len(groups)), len(groups))
    ]

    started, recent, step = time.time(), [], -1
    for step in range(steps):
        batch, picked = step_batch(
            groups, order, step, config.groups_per_step, config.group_size, rng
        )
        encoded, offsets = encode_pairs(tokenizer, batch, picked)
        passage = torch.tensor(
            [
                [sid == 1 for sid in encoded.sequence_ids(row)]
                for row in range(len(encoded["input_ids"]))
            ]
        )
        mask = encoded["attention_mask"]
        with torch.no_grad():
            hidden = teacher(**encoded).last_hidden_state
            teacher_logits = head(mean_pool(hidden, mask)).squeeze(-1) * config.scale
            teacher_spans = span_head(hidden)
        hidden = student(**encoded).last_hidden_state
        logits = student_head(mean_pool(hidden, mask)).squeeze(-1) * config.scale
        sizes = [len(texts) for texts in picked]
        loss = config.logit * torch.nn.functional.mse_loss(logits, teacher_logits)
        loss = loss + config.order * order_loss(torch, logits, teacher_logits, sizes)
        if config.span:
            loss = loss + config.span * span_distillation_loss(
                torch, student_span(hidden), teacher_spans, passage
            )
        if config.gold_span:
            loss = loss + config.gold_span * span_loss(
                torch, student_span(hidden), encoded, offsets, batch, sizes
            )
        params = [*student.parameters(), *student_head.parameters(), *student_span.parameters()]
        recent = [*recent[-19:], optimise(torch, loss, params, optimizer, schedule)]
        if not keep_going(step, steps, recent, started, config.time_budget_s, log):
            break
    save(
        student,
        tokenizer,
        student_head,
        student_span,
        config.scale,
        out,
        {
            **(provenance or {}),
            "steps": f"{step + 1} of {steps}, {config.groups_per_step} groups each",
        },
    )
