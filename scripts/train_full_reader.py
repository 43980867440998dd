#!/usr/bin/env python3
"""Train the reader's cross-encoder at full scale, in installments (``qa.train.installments``).

    scripts/train_full_reader.py [--minutes 150] [--threads 2]

Every layer (the word embeddings stay) on every answerable question of SQuAD v1.1 train, part of
them reworded with WordNet (``qa.train.rewording``), plus SQuAD v2.0's unanswerable questions of
the fit articles less the calibration fifth, starting from the shipped cross-encoder. Each call
resumes the run saved in --state (a checkpoint every --checkpoint-minutes, and on Ctrl-C or
SIGTERM) and stops after --minutes; the same command goes on where it stopped. When the run is
complete it says so; `make reader-full-measure` then measures it against the shipped model, and
`make reader-full-ship` makes it the packaged one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval.splits import article_titles, calibration_article, split_of  # noqa: E402
from qa.read.related_terms import PACKAGED_WORDNET  # noqa: E402
from qa.read.reranker import HEAD_FILE, PACKAGED  # noqa: E402
from qa.train.installments import Progress, RunConfig, run  # noqa: E402
from qa.train.rewording import reword_groups  # noqa: E402
from qa.train.squad_groups import squad_groups, unanswerable_groups  # noqa: E402
from qa.wordnet import WordNet  # noqa: E402

SHARED = ROOT.parent / "shared" / "bench" / "external"
DEFAULT_STATE = ROOT / "checkpoints" / "cross-encoder-full"
REWORD_SHARE = 0.5


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train-squad", type=Path, default=SHARED / "squad-v1.1-train-rebuilt.json"
    )
    parser.add_argument("--unanswerable", type=Path, default=SHARED / "squad-v2.0-dev-rebuilt.json")
    parser.add_argument("--wordnet", type=Path, default=PACKAGED_WORDNET)
    parser.add_argument("--base", type=Path, default=PACKAGED, help="model a new run starts from")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="the run's checkpoint")
    parser.add_argument("--minutes", type=float, help="stop (and save) after this long")
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="the encoder's arithmetic: bf16 (weights stay float32) is about twice as fast where "
        "the CPU has AVX-512 BF16 or AMX, slower elsewhere; auto picks by the CPU",
    )
    parser.add_argument("--limit", type=int, help="train on this many questions (a trial run)")
    parser.add_argument("--status", action="store_true", help="say where the run stands and exit")
    args = parser.parse_args()

    if args.status:
        return status(args.state)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    began = time.time()
    groups, note = training_groups(args)
    print(f"{len(groups)} groups ({note}) in {time.time() - began:.0f} s", flush=True)
    base_record = {}
    if (args.base / HEAD_FILE).is_file():
        base_record = json.loads((args.base / HEAD_FILE).read_text(encoding="utf-8"))
    provenance = {
        "base": base_record.get("provenance", str(args.base)),
        "trained_on": note,
        "procedure": f"qa.train.installments.run (every layer but the word embeddings), "
        f"{RunConfig()}",
    }
    budget = args.minutes * 60 - (time.time() - began) if args.minutes else None
    progress = run(
        groups,
        args.base,
        args.state,
        RunConfig(),
        budget_s=budget,
        checkpoint_s=args.checkpoint_minutes * 60,
        provenance=provenance,
        log=lambda line: print(line, flush=True),
        bf16=None if args.precision == "auto" else args.precision == "bf16",
    )
    hours = progress.seconds / 3600
    print(
        f"{args.state}: step {progress.step} of {progress.steps} after "
        f"{len(progress.installments)} installment(s), {hours:.2f} h of training"
        + ("; complete" if progress.done else "; run the same command to go on")
    )
    return 0


def training_groups(args) -> tuple[list, str]:
    """The run's groups, in a fixed order, and a line saying what they are."""
    groups = squad_groups(args.train_squad, seed=0, limit=args.limit)
    groups = reword_groups(groups, WordNet(args.wordnet), REWORD_SHARE)
    titles = article_titles(args.unanswerable)
    fit = {q for q, t in titles.items() if split_of(t) == "fit" and not calibration_article(t)}
    unanswerable = unanswerable_groups(args.unanswerable, fit)
    if args.limit:
        unanswerable = unanswerable[: max(1, args.limit // 30)]
    note = (
        f"{len(groups)} SQuAD v1.1 training questions ({args.train_squad.name}), "
        f"{REWORD_SHARE:.0%} sampled to be asked in other words (WordNet, qa.train.rewording), "
        f"each with its answer sentence, its paragraph's and article's likest others "
        f"(qa.train.squad_groups); and {len(unanswerable)} unanswerable SQuAD v2.0 questions "
        f"({args.unanswerable.name}, fit articles less the calibration fifth)"
    )
    return [*groups, *unanswerable], note


def status(state: Path) -> int:
    progress = Progress.load(state)
    if progress is None:
        print(f"{state}: no run saved")
        return 1
    print(
        f"{state}: step {progress.step} of {progress.steps} ({progress.step / progress.steps:.1%}), "
        f"{progress.seconds / 3600:.2f} h in {len(progress.installments)} installment(s), "
        f"recent loss {progress.loss}" + ("; complete" if progress.done else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
