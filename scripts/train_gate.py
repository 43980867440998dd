#!/usr/bin/env python3
"""Fit the answer gate (whether to answer, read after the cross-encoder) and ship it in the
reader model.

    scripts/train_gate.py --squad-v1 ../shared/bench/external/squad-v1.1-dev.json \\
        --squad-v2 ../shared/bench/external/squad-v2.0-dev-rebuilt.json \\
        --index-dir build/squad-v1.1 --seeds ../shared/eval/seeds-dev.jsonl --seeds-index index

Fitted on questions the cross-encoder never saw: the answerable SQuAD v1.1 questions and the
unanswerable SQuAD v2.0 ones of the fit articles' calibration fifth (qa.splits), both asked of
the v1.1 index (v2.0 dev reuses v1.1 dev's paragraphs), plus the seeds development set. Report
on the held-out articles and on question sets not fitted here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from qa.config import Settings  # noqa: E402
from qa.pipeline import QAPipeline  # noqa: E402
from qa.questions import Question, load_questions  # noqa: E402
from qa.reader_model import GATE_FEATURES, ReaderModel  # noqa: E402
from qa.reader_training import fit_gate, gate_rows  # noqa: E402
from qa.splits import article_titles, calibration_article, split_of  # noqa: E402

PACKAGED = Path(__file__).resolve().parent.parent / "qa" / "reader_model.json"


def calibration_questions(path: Path, answerable: bool) -> list[Question]:
    """The calibration fifth's questions of a SQuAD file that are (un)answerable."""
    titles = article_titles(path)
    return [
        q
        for q in load_questions(path)
        if q.answerable == answerable
        and split_of(titles[q.id]) == "fit"
        and calibration_article(titles[q.id])
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-v1", type=Path, required=True)
    parser.add_argument("--squad-v2", type=Path, required=True)
    parser.add_argument("--index-dir", type=Path, required=True, help="index over --squad-v1")
    parser.add_argument("--seeds", type=Path, help="seeds development questions (JSONL)")
    parser.add_argument("--seeds-index", type=Path, help="index over the seed articles")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=PACKAGED)
    args = parser.parse_args()

    base = Settings.from_env()
    squad = QAPipeline.load(base.with_overrides(index_dir=args.index_dir))
    answerable = calibration_questions(args.squad_v1, True)
    unanswerable = calibration_questions(args.squad_v2, False)
    parts = [gate_rows(squad, answerable), gate_rows(squad, unanswerable)]
    sources = [
        f"{len(answerable)} answerable SQuAD v1.1 and {len(unanswerable)} unanswerable SQuAD "
        "v2.0 questions of the fit articles' calibration fifth"
    ]
    if args.seeds is not None:
        seeds = QAPipeline.load(base.with_overrides(index_dir=args.seeds_index or base.index_dir))
        seed_questions = load_questions(args.seeds)
        parts.append(gate_rows(seeds, seed_questions))
        sources.append(f"{len(seed_questions)} seeds development questions ({args.seeds.name})")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    gate = fit_gate(x, y, args.threshold)
    model = ReaderModel.load(args.out)
    provenance = {**model.provenance, "gate": "; ".join(sources)}
    replace(model, gate=gate, provenance=provenance).save(args.out)
    answered = np.array([gate.confidence(dict(zip(GATE_FEATURES, row, strict=True))) for row in x])
    print(f"gate fitted on {len(y)} questions ({y.mean():.1%} answered right by the quote)")
    print(f"  answers {np.mean(answered >= gate.threshold):.1%}; weights {gate.weights}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
