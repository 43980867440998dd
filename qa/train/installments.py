"""Full-scale cross-encoder training in installments: resumable, checkpointed, deterministic.

An epoch over SQuAD v1.1's 87,599 training questions with every layer trained takes hours on two
CPU cores, longer than a working session. So one run is cut into installments: each resumes at
the step the last one saved, with the same data order (a function of the seed and the groups
alone), the same learning-rate schedule (a function of the step) and the same sentences picked
(each step's picks seeded by the step), and writes a checkpoint every few minutes to one folder.
The checkpoint is a complete ``qa.read.reranker`` folder (float16, as shipped) plus
``progress.json``, so it can be evaluated as it stands, and it is small enough to carry in git
from one session to the next.

AdamW's moments are not kept (they would triple the folder): a resumed installment rebuilds them
over a short warm-up of the learning rate (``RunConfig.resume_warmup_steps``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import random
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from qa.hardware import cpu_info, cpu_name
from qa.read.reranker import MAX_TOKENS, mean_pool
from qa.train.reranker_training import (
    Group,
    _heads,
    encode_pairs,
    group_loss,
    save,
    span_loss,
)

PROGRESS_FILE = "progress.json"
# Negatives drawn from the first of a group's (``qa.train.squad_groups``: the same paragraph's,
# most alike first): the hard ones; one more comes from the rest.
HARD_POOL = 4


@dataclass(frozen=True)
class RunConfig:
    """A full-scale run; a resumed installment must be given the same one."""

    # The positive, one hard negative (among the paragraph's most alike), one from elsewhere.
    group_size: int = 3
    groups_per_step: int = 16
    epochs: float = 1.0
    encoder_lr: float = 2e-5
    head_lr: float = 1e-4
    warmup: float = 0.03  # share of the steps the learning rate climbs over
    resume_warmup_steps: int = 30  # AdamW's moments are rebuilt over these after a resume
    scale: float = 20.0  # the base head's (``qa.train.reranker_training.TrainingConfig``)
    pointwise: float = 0.5
    span: float = 1.0
    # Batches whose groups are sorted by length together: pairs of like length share a batch,
    # so little of it is padding, while the batches themselves stay in random order.
    bucket_batches: int = 64
    seed: int = 0


@dataclass
class Progress:
    """Where a run stands: ``progress.json`` beside the checkpoint."""

    step: int
    steps: int
    fingerprint: str
    config: dict
    base: str
    seconds: float = 0.0
    loss: float | None = None
    installments: list[dict] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def save(self, folder: Path) -> None:
        (folder / PROGRESS_FILE).write_text(
            json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> Progress | None:
        path = folder / PROGRESS_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def fingerprint(groups: Sequence[Group]) -> str:
    """A hash of the training groups in order: a resumed run must read the same data."""
    digest = hashlib.sha256()
    for g in groups:
        digest.update(json.dumps([g.question, g.positives, g.negatives, g.answer]).encode())
    return digest.hexdigest()[:16]


def batch_order(groups: Sequence[Group], config: RunConfig) -> list[list[int]]:
    """Every step's groups (indices into ``groups``), for the whole run: the groups shuffled
    (each epoch anew), sorted by length within windows of ``bucket_batches`` batches, cut into
    batches, and the batches shuffled. Depends on nothing but ``groups`` and ``config``.
    """
    rng = random.Random(config.seed)
    total = int(len(groups) * config.epochs)
    order: list[int] = []
    while len(order) < total:
        epoch = list(range(len(groups)))
        rng.shuffle(epoch)
        order += epoch
    order = order[:total]

    def length(i: int) -> int:
        g = groups[i]
        shown = g.positives[0] if g.positives else g.negatives[0] if g.negatives else ""
        return len(g.question) + len(shown)

    size = config.groups_per_step
    window = size * config.bucket_batches
    batches = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window], key=length)
        batches += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(batches)
    return batches


def pick_sentences(group: Group, size: int, rng: random.Random) -> list[str]:
    """The positive first, then ``size - 2`` negatives drawn from the ``HARD_POOL`` hardest and
    one from the rest (a group without positives: ``size`` negatives drawn from all)."""
    negatives = list(group.negatives)
    if not group.positives:
        return rng.sample(negatives, min(size, len(negatives)))
    hard, rest = negatives[:HARD_POOL], negatives[HARD_POOL:]
    chosen = rng.sample(hard, min(size - 2, len(hard)))
    pool = rest or [n for n in hard if n not in chosen]
    if pool and len(chosen) < size - 1:
        chosen.append(rng.choice(pool))
    return [group.positives[0], *chosen]


def learning_rate_factor(step: int, steps: int, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` share of the steps, then linear decay to 0."""
    climb = max(1, int(warmup * steps))
    return min(1.0, (step + 1) / climb) * max(0.0, (steps - step) / steps)


def run(
    groups: Sequence[Group],
    base: Path,
    state: Path,
    config: RunConfig = RunConfig(),
    budget_s: float | None = None,
    checkpoint_s: float = 600.0,
    provenance: dict | None = None,
    log: Callable[[str], None] = print,
    bf16: bool | None = None,
) -> Progress:
    """Train from ``base`` (or resume from ``state``) for at most ``budget_s`` seconds, saving
    to ``state`` every ``checkpoint_s`` seconds, at the end, and on SIGTERM or SIGINT.
    ``bf16``: the encoder's arithmetic in bfloat16 (weights and optimiser stay float32); None:
    where the CPU has bfloat16 instructions (``bf16_is_native``).

    Raises ``ValueError`` when ``state`` holds a run of other groups or another config.
    """
    state = Path(state)
    batches = batch_order(groups, config)
    progress = Progress.load(state)
    if progress is None:
        progress = Progress(0, len(batches), fingerprint(groups), asdict(config), str(base))
    else:
        _check_same_run(progress, groups, config, len(batches))
    if progress.done:
        log(f"{state}: the run is complete ({progress.steps} steps)")
        return progress

    first = progress.step
    trainer = _Trainer(
        state if first else Path(base), config, bf16_is_native() if bf16 is None else bf16
    )
    installment = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "from": first,
        "cpu": cpu_name(),
        "threads": trainer.threads,
        "bf16": trainer.bf16,
    }
    progress.installments.append(installment)
    started = last_save = time.time()
    pairs, recent = 0, []

    def checkpoint(step: int) -> None:
        installment.update(to=step, seconds=round(time.time() - started))
        progress.step = step
        progress.seconds = round(sum(i.get("seconds", 0) for i in progress.installments))
        progress.loss = round(sum(recent) / len(recent), 4) if recent else progress.loss
        trainer.save(state, progress, provenance)
        log(f"checkpoint: step {step}/{progress.steps} in {state}")

    step = first
    with _stop_on_signals() as stop:
        for step in range(first, progress.steps):
            factor = learning_rate_factor(step, progress.steps, config.warmup)
            if first:  # AdamW's moments start anew: climb again, briefly
                factor *= min(1.0, (step - first + 1) / config.resume_warmup_steps)
            loss, n = trainer.step([groups[i] for i in batches[step]], step, factor)
            recent, pairs = [*recent[-49:], loss], pairs + n
            elapsed = time.time() - started
            if (step - first) % 20 == 0:
                left = (progress.steps - step - 1) * elapsed / (step - first + 1)
                log(
                    f"step {step + 1}/{progress.steps}  loss {sum(recent) / len(recent):.3f}  "
                    f"{pairs / elapsed:.1f} pairs/s  about {left / 3600:.1f} h to go"
                )
            if stop.is_set() or (budget_s is not None and elapsed > budget_s):
                log("stopping: " + ("signal received" if stop.is_set() else "time budget spent"))
                break
            if time.time() - last_save > checkpoint_s:
                checkpoint(step + 1)
                last_save = time.time()
    checkpoint(step + 1)
    return progress


class _Trainer:
    """The model in training (float32), its heads and optimiser: one step at a time."""

    def __init__(self, folder: Path, config: RunConfig, bf16: bool = False) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch, self._config, self.bf16 = torch, config, bf16
        self.threads = torch.get_num_threads()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.encoder = AutoModel.from_pretrained(
            str(folder), local_files_only=True, dtype=torch.float32
        )
        self.head, self.span_head = _heads(
            torch, self.encoder.config.hidden_size, folder, config.scale
        )
        for p in self.encoder.embeddings.parameters():
            p.requires_grad = False  # the vocabulary stays as pretrained
        self.encoder.train()
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in self.encoder.parameters() if p.requires_grad]},
                {"params": [*self.head.parameters(), *self.span_head.parameters()]},
            ],
            weight_decay=0.01,
        )

    def step(self, batch: Sequence[Group], step: int, lr_factor: float) -> tuple[float, int]:
        """One optimiser step on ``batch`` (sentences picked with the step's own seed): the
        loss and the number of pairs read."""
        torch, config = self._torch, self._config
        torch.manual_seed(config.seed * 1_000_003 + step)
        lrs = (config.encoder_lr, config.head_lr)
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr * lr_factor
        rng = random.Random(f"{config.seed}:{step}")
        picked = [pick_sentences(g, config.group_size, rng) for g in batch]
        encoded, offsets = encode_pairs(self.tokenizer, batch, picked, MAX_TOKENS)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.encoder(**encoded).last_hidden_state
        hidden = hidden.float()  # the heads and losses in float32
        mask = encoded["attention_mask"]
        logits = self.head(mean_pool(hidden, mask)).squeeze(-1) * config.scale
        sizes = [len(texts) for texts in picked]
        answered = [bool(g.positives) for g in batch]
        loss = group_loss(torch, logits, sizes, config.pointwise, answered)
        if config.span:
            span = span_loss(torch, self.span_head(hidden), encoded, offsets, batch, sizes)
            loss = loss + config.span * span
        loss.backward()
        params = [*self.encoder.parameters(), *self.head.parameters(), *self.span_head.parameters()]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad()
        return float(loss.detach()), sum(sizes)

    def save(self, state: Path, progress: Progress, provenance: dict | None) -> None:
        """Write the checkpoint beside ``state`` and swap it in: a crash mid-write leaves the
        last one whole. The copy saved is float16; training goes on in float32."""
        state = Path(state)
        fresh = state.with_name(state.name + ".saving")
        old = state.with_name(state.name + ".old")
        shutil.rmtree(fresh, ignore_errors=True)
        record = {
            **(provenance or {}),
            "steps": f"{progress.step} of {progress.steps}, "
            f"{self._config.groups_per_step} groups each",
        }
        encoder = copy.deepcopy(self.encoder)
        save(encoder, self.tokenizer, self.head, self.span_head, self._config.scale, fresh, record)
        progress.save(fresh)
        shutil.rmtree(old, ignore_errors=True)
        if state.exists():
            state.rename(old)
        fresh.rename(state)
        shutil.rmtree(old, ignore_errors=True)


def bf16_is_native() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX): there the encoder's
    step takes about half the time (1.8 s -> 0.9 s for 48 pairs on one AMD EPYC core); on AVX2
    alone bfloat16 is emulated and slower."""
    return any(flag in cpu_info().vector for flag in ("avx512_bf16", "amx_bf16"))


def _check_same_run(progress: Progress, groups: Sequence[Group], config: RunConfig, steps: int):
    if progress.config != asdict(config):
        raise ValueError(
            f"the saved run has another config: {progress.config} (asked: {asdict(config)})"
        )
    if progress.fingerprint != fingerprint(groups) or progress.steps != steps:
        raise ValueError("the saved run read other training data: start it anew in another folder")


class _Flag:
    def __init__(self) -> None:
        self._set = False

    def set(self, *_args) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_Flag]:
    """A flag SIGTERM and SIGINT set while the loop runs, so it saves before it exits; the
    handlers before are put back after (off the main thread: no handlers, the flag stays down)."""
    flag, before = _Flag(), {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            before[sig] = signal.signal(sig, flag.set)
    except ValueError:
        pass
    try:
        yield flag
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


__all__ = [
    "Progress",
    "RunConfig",
    "batch_order",
    "fingerprint",
    "learning_rate_factor",
    "pick_sentences",
    "run",
]
