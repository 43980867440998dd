#!/usr/bin/env python3
"""Fit the reader model on the fit half of SQuAD's articles and write it for the package to ship.

    scripts/train_reader.py --squad-v1 ../shared/bench/external/squad-v1.1-dev.json --index-v1 DIR \\
        --squad-v2 ../shared/bench/external/squad-v2.0-dev-rebuilt.json --index-v2 DIR

The ranker is fitted on SQuAD v1.1 questions, the confidence model on SQuAD v2.0 questions (half of
them unanswerable), both from the "fit" articles only (qa.splits); report figures with
`scripts/evaluate.py ... --split heldout`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.config import Settings  # noqa: E402
from qa.pipeline import QAPipeline  # noqa: E402
from qa.questions import load_questions, sample  # noqa: E402
from qa.reader_model import HAND_SET  # noqa: E402
from qa.reader_training import collect, ranking_accuracy, train  # noqa: E402
from qa.splits import question_ids  # noqa: E402

PACKAGED = Path(__file__).resolve().parent.parent / "qa" / "reader_model.json"


def fit_questions(path: Path, limit: int, seed: int) -> list:
    keep = question_ids(path, "fit")
    return sample([q for q in load_questions(path) if q.id in keep], limit, seed)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad-v1", type=Path, required=True)
    parser.add_argument("--index-v1", type=Path, required=True, help="index built over --squad-v1")
    parser.add_argument("--squad-v2", type=Path, required=True)
    parser.add_argument("--index-v2", type=Path, required=True, help="index built over --squad-v2")
    parser.add_argument("--limit", type=int, default=3000, help="questions sampled from each file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=PACKAGED)
    args = parser.parse_args()

    v1 = fit_questions(args.squad_v1, args.limit, args.seed)
    v2 = fit_questions(args.squad_v2, args.limit, args.seed)
    base = Settings.from_env()
    ranking = collect(QAPipeline.load(base.with_overrides(index_dir=args.index_v1)), v1)
    confidence = collect(QAPipeline.load(base.with_overrides(index_dir=args.index_v2)), v2)
    model = train(
        ranking,
        confidence,
        threshold=args.threshold,
        provenance={
            "ranker": f"{len(ranking)} SQuAD v1.1 questions, fit articles ({args.squad_v1.name})",
            "confidence": f"{len(confidence)} SQuAD v2.0 questions, fit articles ({args.squad_v2.name})",
            "split": "qa.splits: CRC-32 parity of the article title; report on 'heldout'",
            "seed": args.seed,
        },
    )
    print(
        f"ranking accuracy on the fit questions: hand-set {ranking_accuracy(ranking, dict(HAND_SET.score_weights)):.3f}"
        f", fitted {ranking_accuracy(ranking, dict(model.score_weights)):.3f}"
    )
    print("ranker:", model.score_weights)
    print("confidence:", model.confidence_weights, "bias", model.confidence_bias)
    model.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
