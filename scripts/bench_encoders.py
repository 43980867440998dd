"""Encoder throughput, torch against ONNX Runtime fp32 and int8: ``make bench-encoders``.

It prints the CPU first (model, cores, vector extensions: the figures depend on them). The
bi-encoder embeds SQuAD v1.1 dev sentences as an index build does, on every core (torch in
batches, ONNX Runtime each text alone);
the cross-encoder reads a question with 5 sentences of its paragraph at a time (as a query
reads its best 5 candidates, on one thread). It
also prints how far each ONNX variant is from torch: the cosine of the vectors, and for the
cross-encoder the largest logit difference, how often the 5 sentences rank alike and how often
the span head picks the same span.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

try:
    import qa  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from qa.embedding import MiniLMEmbedder, OnnxEmbedder
from qa.hardware import describe_cpu
from qa.read.reranker import PACKAGED, CrossEncoder
from qa.runtime import EncoderRuntime, set_inference_threads
from qa.text import split_sentences


def squad_sample(path: Path, n: int, seed: int) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """``n`` sentences, and ``n`` questions each with 5 sentences of its paragraph, from SQuAD."""
    sentences, groups = [], []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            text = paragraph["context"]
            own = [text[a:b] for a, b in split_sentences(text)]
            sentences += own
            if len(own) >= 5:
                groups += [(q["question"], own[:5]) for q in paragraph["qas"]]
    rng = random.Random(seed)
    return rng.sample(sentences, n), rng.sample(groups, n)


def bench_bi_encoder(sentences: list[str]) -> None:
    set_inference_threads(0)  # every core, as `qa index`
    reference = None
    for label, embedder in (
        ("torch", MiniLMEmbedder()),
        ("onnx-fp32", OnnxEmbedder(int8=False)),
        ("onnx-int8", OnnxEmbedder(int8=True)),
    ):
        embedder.encode(sentences[:64])  # warm up
        started = time.perf_counter()
        vectors = embedder.encode(sentences)
        rate = len(sentences) / (time.perf_counter() - started)
        if reference is None:
            reference = vectors
        cos = (vectors * reference).sum(axis=1)
        print(
            f"bi-encoder     {label:10} {rate:7.1f} texts/s   cosine to torch: "
            f"min {cos.min():.4f}, mean {cos.mean():.4f}",
            flush=True,
        )


def bench_cross_encoder(work: list[tuple[str, list[str]]]) -> None:
    set_inference_threads(1)  # as a query process
    reference = None
    for runtime in (
        EncoderRuntime("torch"),
        EncoderRuntime("onnx", int8=False),
        EncoderRuntime("onnx", int8=True),
    ):
        model = CrossEncoder(PACKAGED, runtime)
        model.read(*work[0])  # warm up
        started = time.perf_counter()
        reads = [model.read(q, p) for q, p in work]
        rate = 5 * len(work) / (time.perf_counter() - started)
        if reference is None:
            reference = reads
        diff = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(reads, reference, strict=True))
        order = np.mean(
            [
                list(np.argsort(-a[0])) == list(np.argsort(-b[0]))
                for a, b in zip(reads, reference, strict=True)
            ]
        )
        top = np.mean(
            [np.argmax(a[0]) == np.argmax(b[0]) for a, b in zip(reads, reference, strict=True)]
        )
        same = [
            (x.start, x.end) == (y.start, y.end)
            for a, b in zip(reads, reference, strict=True)
            for x, y in zip(a[1], b[1], strict=True)
            if x is not None and y is not None
        ]
        print(
            f"cross-encoder  {runtime.label:10} {rate:7.1f} pairs/s   to torch: |logit| diff max "
            f"{diff:.3f}, same top {top:.1%}, same order {order:.1%}, same span {np.mean(same):.1%}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--squad", type=Path, default=Path("../shared/bench/external/squad-v1.1-dev.json")
    )
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=200, help="questions for the cross-encoder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(describe_cpu(), flush=True)
    sentences, groups = squad_sample(args.squad, args.sentences, args.seed)
    bench_bi_encoder(sentences)
    bench_cross_encoder(groups[: args.groups])
    return 0


if __name__ == "__main__":
    sys.exit(main())
