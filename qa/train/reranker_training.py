"""Fine-tuning the bundled MiniLM as the reader's cross-encoder (see ``qa.read.reranker``).

Each training example is one question's group of candidate sentences, as the reader sees them: one
that holds a gold answer, the hardest others by the linear ranker's score, and one at random. The
loss is a softmax over the group, because the reader only keeps the group's winner.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.read.reranker import HEAD_FILE, MAX_TOKENS, max_tokens, mean_pool


@dataclass(frozen=True)
class Group:
    """One question, its answer-bearing sentences and the others, best-scored first.

    No positives: a question its sentences do not answer (SQuAD v2.0's unanswerable ones,
    written beside their paragraph to look answerable); only the pointwise loss reads it.
    """

    question: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]
    # Where the gold answer lies in ``positives[0]`` (characters), for training the span head;
    # a group that has one always shows that positive.
    answer: tuple[int, int] | None = None


@dataclass(frozen=True)
class TrainingConfig:
    group_size: int = 6  # one positive, four hard negatives, one random negative
    groups_per_step: int = 8
    epochs: float = 1.0
    encoder_lr: float = 4e-5
    head_lr: float = 1e-3
    # Multiplies the head's output: a unit-norm-ish mean vector needs a large logit range.
    scale: float = 20.0
    # Weight of a per-sentence logistic loss beside the group's softmax: the softmax only orders
    # a group, so alone it leaves the logit's level free; the pointwise term pins 0 as "even odds
    # this sentence answers", which the answer gate reads as absolute evidence.
    pointwise: float = 0.0
    # Weight of the answer-span loss (start and end token of the gold answer in the positive).
    span: float = 0.0
    # Transformer layers trained, counted from the top (None: all). On 2 CPU cores a step of 8
    # groups took about 5.3 s training all layers (groups of 6) and about 1.4 s training the
    # top 3 (groups of 4), so a CPU hour covers several times more questions.
    trainable_layers: int | None = None
    # Stop early (and save) after this many seconds: a CPU run sized to the time at hand.
    time_budget_s: float | None = None
    seed: int = 0
    # Sentences before the candidate that head it (0 or 1, ``qa.text.in_context``): the groups
    # must be made so; the saved model says so and the reader shows it the same.
    context_sentences: int = 0


def pick(group: Group, size: int, rng: random.Random) -> list[str]:
    """A positive first, then the hardest negatives, and one negative from further down (a
    group without positives: negatives only, as many)."""
    slots = size - 1 if group.positives else size
    hard = slots - (1 if len(group.negatives) > slots else 0)
    chosen = list(group.negatives[:hard])
    rest = group.negatives[hard:]
    if rest:
        chosen.append(rng.choice(rest))
    if not group.positives:
        return chosen
    positive = group.positives[0] if group.answer else rng.choice(group.positives)
    return [positive, *chosen]


def train(
    groups: Sequence[Group],
    base_model: Path,
    out: Path,
    config: TrainingConfig = TrainingConfig(),
    provenance: dict | None = None,
    log: Callable[[str], None] = print,
) -> None:
    """Fine-tune ``base_model`` on ``groups`` and write a ``qa.read.reranker`` folder to ``out``.

    ``base_model`` is a plain encoder folder, or a ``qa.read.reranker`` folder whose heads
    (``head.json``) training starts from.
    """
    if not config.pointwise and any(not g.positives for g in groups):
        raise ValueError("groups without a positive train only the pointwise loss: set pointwise")
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    encoder = AutoModel.from_pretrained(str(base_model), local_files_only=True, dtype=torch.float32)
    head, span_head = _heads(torch, encoder.config.hidden_size, Path(base_model), config.scale)
    for p in encoder.embeddings.parameters():
        p.requires_grad = False  # the vocabulary stays as pretrained: a few thousand questions
    if config.trainable_layers is not None:
        frozen = encoder.encoder.layer[: len(encoder.encoder.layer) - config.trainable_layers]
        for p in frozen.parameters():
            p.requires_grad = False
    encoder.train()

    steps = int(-(-len(groups) // config.groups_per_step) * config.epochs)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for p in encoder.parameters() if p.requires_grad],
                "lr": config.encoder_lr,
            },
            {"params": [*head.parameters(), *span_head.parameters()], "lr": config.head_lr},
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
        batch, picked = step_batch(
            groups, order, step, config.groups_per_step, config.group_size, rng
        )
        encoded, offsets = encode_pairs(
            tokenizer, batch, picked, max_tokens(config.context_sentences)
        )
        hidden = encoder(**encoded).last_hidden_state
        logits = head(mean_pool(hidden, encoded["attention_mask"])).squeeze(-1) * config.scale
        sizes = [len(texts) for texts in picked]
        answered = [bool(g.positives) for g in batch]
        loss = group_loss(torch, logits, sizes, config.pointwise, answered)
        if config.span:
            loss = loss + config.span * span_loss(
                torch, span_head(hidden), encoded, offsets, batch, sizes
            )
        params = [*encoder.parameters(), *head.parameters(), *span_head.parameters()]
        recent = [*recent[-19:], optimise(torch, loss, params, optimizer, schedule)]
        if not keep_going(step, steps, recent, started, config.time_budget_s, log):
            break
    save(
        encoder,
        tokenizer,
        head,
        span_head if config.span else None,
        config.scale,
        out,
        {
            **(provenance or {}),
            "steps": f"{step + 1} of {steps}, {config.groups_per_step} groups each",
        },
        config.context_sentences,
    )


def step_batch(
    groups: Sequence[Group],
    order: Sequence[int],
    step: int,
    groups_per_step: int,
    group_size: int,
    rng: random.Random,
) -> tuple[list[Group], list[list[str]]]:
    """The groups ``order`` gives to ``step``, and the sentences picked from each (``pick``)."""
    batch = [groups[i] for i in order[step * groups_per_step : (step + 1) * groups_per_step]]
    return batch, [pick(g, group_size, rng) for g in batch]


def encode_pairs(
    tokenizer, batch: Sequence[Group], picked: Sequence[Sequence[str]], limit: int = MAX_TOKENS
):
    """Each group's question paired with each of its picked sentences, tokenized as the reader
    reads them (``limit`` tokens, the longer side cut), and each token's character offsets."""
    encoded = tokenizer(
        [g.question for g, texts in zip(batch, picked, strict=True) for _ in texts],
        [t for texts in picked for t in texts],
        padding=True,
        truncation="longest_first",
        max_length=limit,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    return encoded, encoded.pop("offset_mapping")


def optimise(torch, loss, params, optimizer, schedule) -> float:
    """One optimiser step on ``loss`` (gradients clipped to norm 1); the loss's value."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad()
    return float(loss.detach())


def keep_going(
    step: int,
    steps: int,
    recent: Sequence[float],
    started: float,
    budget_s: float | None,
    log: Callable[[str], None],
) -> bool:
    """Whether training goes on after ``step`` (not past ``budget_s`` seconds since ``started``);
    logs progress every 20 steps with the mean of the ``recent`` losses.
    """
    elapsed = time.time() - started
    if budget_s is not None and elapsed > budget_s:
        log(f"time budget spent after step {step + 1}/{steps}: saving")
        return False
    if step % 20 == 0 or step == steps - 1:
        log(
            f"step {step + 1}/{steps}  loss {sum(recent) / len(recent):.3f}  "
            f"{elapsed:.0f} s, about {elapsed / (step + 1) * (steps - step - 1):.0f} s to go"
        )
    return True


def _heads(torch, hidden_size: int, base_model: Path, scale: float):
    """The relevance head (one logit) and the span head (start, end), from ``base_model``'s
    ``head.json`` where it has them, else freshly initialised.
    """
    head = torch.nn.Linear(hidden_size, 1)
    span_head = torch.nn.Linear(hidden_size, 2)
    for layer in (head, span_head):
        torch.nn.init.normal_(layer.weight, std=0.02)
        torch.nn.init.zeros_(layer.bias)
    saved_file = base_model / HEAD_FILE
    saved = json.loads(saved_file.read_text(encoding="utf-8")) if saved_file.is_file() else {}
    with torch.no_grad():
        if "weight" in saved:  # stored with the scale folded in (``save``)
            head.weight[0] = torch.tensor(saved["weight"]) / scale
            head.bias[0] = saved["bias"] / scale
        if "span_weight" in saved:
            span_head.weight[:] = torch.tensor(saved["span_weight"])
            span_head.bias[:] = torch.tensor(saved["span_bias"])
    return head, span_head


def group_loss(
    torch, logits, sizes: Sequence[int], pointwise: float, answered: Sequence[bool] | None = None
):
    """Mean over groups of the softmax loss (each group's first is the positive), plus
    ``pointwise`` times the mean per-sentence logistic loss. Groups not ``answered`` (no
    positive) have no softmax term: every sentence of theirs is a pointwise negative.
    """
    answered = [True] * len(sizes) if answered is None else answered
    loss, k = 0.0, 0
    labels = torch.zeros_like(logits)
    for size, has_positive in zip(sizes, answered, strict=True):
        if has_positive:
            part = logits[k : k + size]
            loss = loss + torch.nn.functional.cross_entropy(part[None], torch.zeros(1).long())
            labels[k] = 1.0
        k += size
    loss = loss / max(1, sum(answered))
    if pointwise:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        loss = loss + pointwise * bce
    return loss


def span_loss(torch, span_logits, encoded, offsets, batch: Sequence[Group], sizes: Sequence[int]):
    """Cross-entropy of the gold answer's start and end token in each group's positive pair,
    over that pair's passage tokens; groups without an answer (or cut off) are left out.
    """
    losses, row = [], 0
    for group, size in zip(batch, sizes, strict=True):
        pair_row, row = row, row + size
        if group.answer is None:
            continue
        passage = torch.tensor([sid == 1 for sid in encoded.sequence_ids(pair_row)])
        target = answer_tokens(offsets[pair_row].tolist(), passage.tolist(), group.answer)
        if target is None:
            continue
        for which, token in enumerate(target):
            scores = span_logits[pair_row, :, which].masked_fill(~passage, float("-inf"))
            losses.append(torch.nn.functional.cross_entropy(scores[None], torch.tensor([token])))
    if not losses:
        return span_logits.sum() * 0.0
    return torch.stack(losses).mean()


def answer_tokens(
    offsets: Sequence[Sequence[int]], passage: Sequence[bool], answer: tuple[int, int]
) -> tuple[int, int] | None:
    """The first and last passage token covering the characters ``answer``, or None when the
    answer was cut off by truncation.
    """
    start, end = answer
    covered = [
        t
        for t, ((a, b), ok) in enumerate(zip(offsets, passage, strict=True))
        if ok and b > a and a < end and start < b
    ]
    if not covered or offsets[covered[-1]][1] < end:
        return None
    return covered[0], covered[-1]


def save(
    encoder,
    tokenizer,
    head,
    span_head,
    scale: float,
    out: Path,
    provenance: dict,
    context_sentences: int = 0,
) -> None:
    """Write the folder ``qa.read.reranker.CrossEncoder`` loads; the scale is folded into the head.

    The encoder is stored in float16 (half the size in git; scores move by under 0.01 logit).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoder.half().save_pretrained(str(out))
    encoder.float()
    tokenizer.save_pretrained(str(out))
    weight = (head.weight.detach()[0] * scale).tolist()
    bias = float(head.bias.detach()[0]) * scale
    fields = {"weight": weight, "bias": bias}
    if span_head is not None:
        fields["span_weight"] = span_head.weight.detach().tolist()
        fields["span_bias"] = span_head.bias.detach().tolist()
    if context_sentences:
        fields["context_sentences"] = context_sentences
    (out / HEAD_FILE).write_text(
        json.dumps({**fields, "provenance": provenance}) + "\n", encoding="utf-8"
    )


@dataclass(frozen=True)
class Reread:
    """One question's reread candidates: linear scores, cross-encoder logits, which are right."""

    linear: tuple[float, ...]
    cross: tuple[float, ...]
    right: tuple[bool, ...]


# fit_mix reads the accuracy at a weight together with its neighbours' this close.
MIX_SPREAD = 0.25


def fit_mix(rereads: Sequence[Reread], grid: Sequence[float] | None = None) -> tuple[float, float]:
    """The weight of the linear score next to the cross-encoder's logit (weight 1) that picks
    the right sentence most often, counted with its neighbours on the grid within
    ``MIX_SPREAD`` (the smallest of equals), and the share of all questions it picks right.

    The count alone is flat over a wide range (for the ranker with related words: 0.878-0.882 on
    1,100 questions from 0.2 to 1.6) and its maximum sat at the plateau's edge, 0.25, a few
    questions from a cliff (0.871 at 0.1); with its neighbours it is the plateau's middle.
    """
    grid = grid if grid is not None else [i / 20 for i in range(61)]

    def accuracy(weight: float) -> float:
        hits = 0
        for r in rereads:
            if r.cross:
                best = max(range(len(r.cross)), key=lambda i: r.cross[i] + weight * r.linear[i])
                hits += r.right[best]
        return hits / len(rereads)

    accuracies = {w: accuracy(w) for w in grid}

    def with_neighbours(weight: float) -> float:
        near = [a for w, a in accuracies.items() if abs(w - weight) <= MIX_SPREAD + 1e-9]
        return sum(near) / len(near)

    best_weight = max(grid, key=lambda w: (with_neighbours(w), -w))
    return best_weight, accuracies[best_weight]


# The reader stops rereading once a sentence could not overtake the leader even with this logit.
CEILING_QUANTILE = 0.999


def fit_ceiling(rereads: Sequence[Reread], from_rank: int = 0) -> float:
    """The logit one reread sentence in a thousand reaches (rounded up to a hundredth), among
    those the linear ranker put at ``from_rank`` (0: first) or after: a high bound on what the
    cross-encoder gives there, so stopping at it rarely changes a pick.
    """
    logits = sorted(x for r in rereads for x in r.cross[from_rank:])
    if not logits:
        raise ValueError("no reread logits to fit a ceiling on")
    at = min(len(logits) - 1, int(CEILING_QUANTILE * len(logits)))
    return math.ceil(logits[at] * 100) / 100


def fit_ceilings(rereads: Sequence[Reread]) -> list[float]:
    """``fit_ceiling`` from each linear rank on: sentences the linear ranker put lower get lower
    logits too, so a bound for each rank stops sooner than one for all (SQuAD v1.1 calibration
    fifth, the cross-encoder before the full-scale one: 3.30 pairs a question -> 2.69, no pick
    changed).
    """
    depth = max((len(r.cross) for r in rereads), default=0)
    return [fit_ceiling(rereads, rank) for rank in range(depth)]
