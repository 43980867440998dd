"""Fine-tuning the bundled MiniLM as the reader's cross-encoder (see ``qa.reranker``).

Each training example is one question's group of candidate sentences, as the reader sees them: one
that holds a gold answer, the hardest others by the linear ranker's score, and one at random. The
loss is a softmax over the group, because the reader only keeps the group's winner.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.reranker import HEAD_FILE, MAX_TOKENS, mean_pool


@dataclass(frozen=True)
class Group:
    """One question, its answer-bearing sentences and the others, best-scored first."""

    question: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


@dataclass(frozen=True)
class TrainingConfig:
    group_size: int = 6  # one positive, four hard negatives, one random negative
    groups_per_step: int = 8
    epochs: float = 1.0
    encoder_lr: float = 4e-5
    head_lr: float = 1e-3
    # Multiplies the head's output: a unit-norm-ish mean vector needs a large logit range.
    scale: float = 20.0
    seed: int = 0


def pick(group: Group, size: int, rng: random.Random) -> list[str]:
    """A positive first, then the hardest negatives, and one negative from further down."""
    hard = size - 1 - (1 if len(group.negatives) > size else 0)
    chosen = list(group.negatives[:hard])
    rest = group.negatives[hard:]
    if rest:
        chosen.append(rng.choice(rest))
    return [rng.choice(group.positives), *chosen]


def train(
    groups: Sequence[Group],
    base_model: Path,
    out: Path,
    config: TrainingConfig = TrainingConfig(),
    provenance: dict | None = None,
    log: Callable[[str], None] = print,
) -> None:
    """Fine-tune ``base_model`` on ``groups`` and write a ``qa.reranker`` folder to ``out``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    encoder = AutoModel.from_pretrained(str(base_model), local_files_only=True)
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    torch.nn.init.normal_(head.weight, std=0.02)
    torch.nn.init.zeros_(head.bias)
    for p in encoder.embeddings.parameters():
        p.requires_grad = False  # the vocabulary stays as pretrained: a few thousand questions
    encoder.train()

    steps = int(-(-len(groups) // config.groups_per_step) * config.epochs)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for p in encoder.parameters() if p.requires_grad],
                "lr": config.encoder_lr,
            },
            {"params": head.parameters(), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    order: list[int] = []
    while len(order) < steps * config.groups_per_step:
        batch_order = list(range(len(groups)))
        rng.shuffle(batch_order)
        order += batch_order

    started, recent = time.time(), []
    for step in range(steps):
        batch = [
            groups[i]
            for i in order[step * config.groups_per_step : (step + 1) * config.groups_per_step]
        ]
        picked = [pick(g, config.group_size, rng) for g in batch]
        encoded = tokenizer(
            [g.question for g, texts in zip(batch, picked, strict=True) for _ in texts],
            [t for texts in picked for t in texts],
            padding=True,
            truncation="longest_first",
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        pooled = mean_pool(encoder(**encoded).last_hidden_state, encoded["attention_mask"])
        logits = head(pooled).squeeze(-1) * config.scale
        loss, k = 0.0, 0
        for texts in picked:  # the positive is each group's first
            part = logits[k : k + len(texts)]
            loss = loss + torch.nn.functional.cross_entropy(part[None], torch.zeros(1).long())
            k += len(texts)
        loss = loss / len(picked)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*encoder.parameters(), *head.parameters()], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        recent = [*recent[-19:], float(loss.detach())]
        if step % 20 == 0 or step == steps - 1:
            elapsed = time.time() - started
            log(
                f"step {step + 1}/{steps}  loss {sum(recent) / len(recent):.3f}  "
                f"{elapsed:.0f} s, about {elapsed / (step + 1) * (steps - step - 1):.0f} s to go"
            )
    save(encoder, tokenizer, head, config.scale, out, provenance or {})


def save(encoder, tokenizer, head, scale: float, out: Path, provenance: dict) -> None:
    """Write the folder ``qa.reranker.CrossEncoder`` loads; the scale is folded into the head.

    The encoder is stored in float16 (half the size in git; scores move by under 0.01 logit).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoder.half().save_pretrained(str(out))
    encoder.float()
    tokenizer.save_pretrained(str(out))
    weight = (head.weight.detach()[0] * scale).tolist()
    bias = float(head.bias.detach()[0]) * scale
    (out / HEAD_FILE).write_text(
        json.dumps({"weight": weight, "bias": bias, "provenance": provenance}) + "\n",
        encoding="utf-8",
    )


@dataclass(frozen=True)
class Reread:
    """One question's reread candidates: linear scores, cross-encoder logits, which are right."""

    linear: tuple[float, ...]
    cross: tuple[float, ...]
    right: tuple[bool, ...]


def fit_mix(rereads: Sequence[Reread], grid: Sequence[float] | None = None) -> tuple[float, float]:
    """The weight of the linear score next to the cross-encoder's logit (weight 1) that picks
    the right sentence most often (the smallest of equals), and that share of all questions.
    """
    grid = grid if grid is not None else [i / 20 for i in range(41)]

    def accuracy(weight: float) -> float:
        hits = 0
        for r in rereads:
            if r.cross:
                best = max(range(len(r.cross)), key=lambda i: r.cross[i] + weight * r.linear[i])
                hits += r.right[best]
        return hits / len(rereads)

    best_weight = max(grid, key=lambda w: (accuracy(w), -w))
    return best_weight, accuracy(best_weight)
