"""The ``qa`` command: index, serve, ask, chat, eval."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from qa.config import Settings
from qa.errors import IndexNotWritable, InvalidRequest, QAError
from qa.filters import filters_option
from qa.serve.options import add_arguments as add_serve_arguments


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qa`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    # chat and eval own their options; hand them everything after the sub-command.
    if argv and argv[0] == "chat":
        from qa.chat.terminal import main as chat_main

        return chat_main(argv[1:])
    if argv and argv[0] == "eval":
        from qa.eval.cli import main as eval_main

        return eval_main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except QAError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="build the index (does nothing if it is up to date)")
    _index_options(index)
    index.add_argument("--force", action="store_true", help="rebuild even if up to date")
    index.add_argument("--chunk-tokens", type=int, help="token budget per chunk (default 180)")
    index.add_argument(
        "--faiss-factory",
        help='FAISS index_factory string, or "auto" (the default: chosen by size)',
    )
    index.add_argument("--quiet", action="store_true", help="no progress output")
    index.add_argument(
        "--ray",
        action="store_true",
        help="chunk and embed as a Ray Data job: on a Ray started here, or at --ray-address",
    )
    index.add_argument(
        "--ray-address",
        help='the Ray cluster to embed on (implies --ray): its head "host:6379", or "auto" on a '
        "node of the cluster (default QA_RAY_ADDRESS)",
    )
    index.add_argument(
        "--check",
        action="store_true",
        help="build nothing; list corpus files changed since the build (exit 1 if any)",
    )
    index.set_defaults(run=_index)

    serve = sub.add_parser("serve", help="serve the HTTP API with gunicorn")
    _index_options(serve)
    add_serve_arguments(serve)
    serve.set_defaults(run=_serve)

    ask = sub.add_parser("ask", help="answer a question, or a file of them, in-process")
    _index_options(ask)
    ask.add_argument("question", nargs="?")
    ask.add_argument("--top-k", type=int)
    ask.add_argument("--answers", type=int, default=1, help="answers to give (default 1)")
    ask.add_argument(
        "--filters",
        type=filters_option,
        metavar="JSON",
        help='only from the documents these filters keep, e.g. \'{"doc_id": "reports/*"}\'',
    )
    ask.add_argument(
        "--file",
        type=Path,
        help="ask each line of this file ('-': standard input) instead; prints one line of "
        'JSON per question, in order: {"index": i, ...the answer} or {"index": i, "error": ...}',
    )
    ask.set_defaults(run=_ask)

    sub.add_parser("chat", help="interactive terminal chat (see `qa chat --help`)")
    sub.add_parser("eval", help="batch evaluation (see `qa eval --help`)")
    return parser


def _index_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus",
        type=Path,
        help="folder of documents (.txt .md .pdf .html .docx) or a SQuAD .json; default: the "
        "corpus the index was built from (the sample articles for a new index)",
    )
    parser.add_argument("--index-dir", type=Path, help="where the index lives (default ./index)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        corpus=args.corpus,
        index_dir=args.index_dir,
        chunk_tokens=getattr(args, "chunk_tokens", None),
        faiss_factory=getattr(args, "faiss_factory", None),
        ray_address=getattr(args, "ray_address", None),
    )


def _index(args: argparse.Namespace) -> int:
    from qa.build import build_index, check_index, check_text_rules
    from qa.store.folder import disk_full, is_disk_full

    settings = _settings(args)
    if args.check:
        stale = check_index(settings)
        older_rules = check_text_rules(settings)
        for change in stale:
            print(f"{change.change}: {change.path}")
        if stale:
            print(f"{len(stale)} corpus files changed since the build")
        if older_rules:
            print(f"the index was {older_rules}")
        if not stale and not older_rules:
            print("up to date")
        return 1 if stale or older_rules else 0
    embed_step = None
    if args.ray or args.ray_address:
        from qa.ray_build import RayEmbedStep

        embed_step = RayEmbedStep(address=settings.ray_address)
    try:
        report = build_index(
            settings, force=args.force, progress=not args.quiet, embed_step=embed_step
        )
    except OSError as exc:
        # A full disk outside the build folder's own writes (the lock file, the model cache),
        # permissions, a read-only file system: one line, never a traceback. Builds switch in
        # atomically, so whatever was live still is.
        if is_disk_full(exc):
            raise disk_full(exc, settings.index_dir) from exc
        where = f" ({exc.filename})" if exc.filename else ""
        raise IndexNotWritable(
            f"cannot build the index in {settings.index_dir}{where}: {exc.strerror or exc}; "
            "the previous index, if any, is unchanged"
        ) from exc
    if not args.quiet:
        state = "built" if report.built else "up to date"
        print(f"{state}: {report.documents} documents, {report.chunks} chunks in {report.folder}")
        print(report.summary())
    for skipped in report.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if report.skipped:
        print(f"{len(report.skipped)} files skipped", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from qa.serve import ServeOptions, serve

    return serve(_settings(args), ServeOptions.from_args(args))


def _ask(args: argparse.Namespace) -> int:
    from qa.clients.base import stale_warning
    from qa.pipeline import QAPipeline

    if (args.question is None) == (args.file is None):
        raise InvalidRequest("give one question, or --file with one question a line")
    pipeline = QAPipeline.load(_settings(args))
    # The same check as /api/health: a stale index still answers, from the text it holds.
    warning = stale_warning(pipeline.health())
    if warning:
        print(warning, file=sys.stderr)
    if args.file is not None:
        return _ask_file(pipeline, args)
    answer = pipeline.ask(args.question, args.top_k, args.answers, args.filters)
    print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    return 0


def _ask_file(pipeline, args: argparse.Namespace) -> int:
    """``qa ask --file``: every non-blank line a question, answered in batches; exit 1 if any
    question got an error instead of an answer."""
    from qa.clients import LocalClient

    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"cannot read questions from {args.file}: {exc}") from exc
    questions = [line.strip() for line in text.splitlines() if line.strip()]
    failed = 0
    client = LocalClient(pipeline)
    for item in client.ask_many(questions, args.top_k, args.answers, args.filters):
        failed += item.answer is None
        print(json.dumps(item.to_dict(), ensure_ascii=False), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
