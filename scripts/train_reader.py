#!/usr/bin/env python3
"""Fit the reader model on the fit half of SQuAD's articles and write it for the package to ship.

    scripts/train_reader.py --squad-v1 ../shared/bench/external/squad-v1.1-dev.json --index-v1 DIR

The sentence ranker is fitted on SQuAD v1.1 questions of the "fit" articles only (qa.eval.splits);
report figures with `scripts/evaluate.py ... --split heldout`. The confidence model stays hand-set
unless --squad-v2/--index-v2 are given: then it is fitted on SQuAD v2.0's fit articles (half of
those questions are unanswerable). That one is not shipped today: on the seeds' answerable
questions it abstains far too often (see CHANGELOG).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.config import Settings  # noqa: E402
from qa.eval.questions import load_questions, sample  # noqa: E402
from qa.eval.splits import question_ids  # noqa: E402
from qa.pipeline import QAPipeline  # noqa: E402
from qa.read.reader_model import HAND_SET, ReaderModel  # noqa: E402
from qa.train.reader_training import (  # noqa: E402
    collect,
    confidence_rows,
    fit_confidence,
    fit_ranker,
    ranking_accuracy,
)

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
    parser.add_argument("--squad-v2", type=Path, help="fit the confidence model on this file too")
    parser.add_argument("--index-v2", type=Path, help="index built over --squad-v2")
    parser.add_argument("--limit", type=int, default=3000, help="questions sampled from each file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=HAND_SET.threshold)
    parser.add_argument(
        "--out",
        type=Path,
        nargs="+",
        default=[PACKAGED],
        help="reader model files to write; one that exists keeps its other parts (the "
        "cross-encoder's mix, the answer gate): the default cross-encoder's and the fast one's "
        "share the ranker",
    )
    args = parser.parse_args()
    if (args.squad_v2 is None) != (args.index_v2 is None):
        parser.error("--squad-v2 and --index-v2 go together")

    base = Settings.from_env()
    v1 = fit_questions(args.squad_v1, args.limit, args.seed)
    ranking = collect(QAPipeline.load(base.with_overrides(index_dir=args.index_v1)), v1)
    ranker = fit_ranker(ranking)
    provenance = {
        "fitted": True,
        "ranker": f"{len(ranking)} SQuAD v1.1 questions, fit articles ({args.squad_v1.name})",
        "confidence": "hand-set on the seeds development set",
        "split": "qa.eval.splits: CRC-32 parity of the article title; report on 'heldout'",
        "seed": args.seed,
    }
    weights, bias = dict(HAND_SET.confidence_weights), HAND_SET.confidence_bias
    if args.squad_v2 is not None:
        v2 = fit_questions(args.squad_v2, args.limit, args.seed)
        groups = collect(QAPipeline.load(base.with_overrides(index_dir=args.index_v2)), v2)
        weights, bias = fit_confidence(*confidence_rows(groups, ranker))
        provenance["confidence"] = (
            f"{len(groups)} SQuAD v2.0 questions, fit articles ({args.squad_v2.name})"
        )
    print(
        f"ranking accuracy on the fit questions: hand-set {ranking_accuracy(ranking, dict(HAND_SET.score_weights)):.3f}"
        f", fitted {ranking_accuracy(ranking, ranker):.3f}"
    )
    print("ranker:", ranker)
    print("confidence:", weights, "bias", bias)
    fitted = args.squad_v2 is not None
    for path in args.out:
        if path.is_file():
            kept = ReaderModel.load(path)
            model = replace(
                kept,
                score_weights=ranker,
                confidence_weights=weights if fitted else kept.confidence_weights,
                confidence_bias=bias if fitted else kept.confidence_bias,
                # Only what was fitted here is restated: a kept confidence keeps its story.
                provenance={
                    **kept.provenance,
                    **{k: v for k, v in provenance.items() if fitted or k != "confidence"},
                },
            )
        else:
            model = ReaderModel(ranker, weights, bias, args.threshold, provenance)
        model.save(path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
