"""The ``qa`` command: index, serve, ask, chat, eval."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from qa.config import Settings
from qa.errors import QAError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qa`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    # chat and eval own their options; hand them everything after the sub-command.
    if argv and argv[0] == "chat":
        from qa.chat import main as chat_main

        return chat_main(argv[1:])
    if argv and argv[0] == "eval":
        from qa.eval_cli import main as eval_main

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
    index.add_argument("--faiss-factory", help='FAISS index_factory string (default "Flat")')
    index.add_argument("--quiet", action="store_true", help="no progress output")
    index.set_defaults(run=_index)

    serve = sub.add_parser("serve", help="serve the HTTP API with gunicorn")
    _index_options(serve)
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1, help="processes (each loads the model)")
    serve.add_argument("--threads", type=int, default=4, help="threads per process")
    serve.set_defaults(run=_serve)

    ask = sub.add_parser("ask", help="answer one question in-process")
    _index_options(ask)
    ask.add_argument("question")
    ask.add_argument("--top-k", type=int)
    ask.set_defaults(run=_ask)

    sub.add_parser("chat", help="interactive terminal chat (see `qa chat --help`)")
    sub.add_parser("eval", help="batch evaluation (see `qa eval --help`)")
    return parser


def _index_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, help="folder of .txt/.md files or a SQuAD .json")
    parser.add_argument("--index-dir", type=Path, help="where the index lives (default ./index)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        corpus=args.corpus,
        index_dir=args.index_dir,
        chunk_tokens=getattr(args, "chunk_tokens", None),
        faiss_factory=getattr(args, "faiss_factory", None),
    )


def _index(args: argparse.Namespace) -> int:
    from qa.pipeline import build_index

    report = build_index(_settings(args), force=args.force, progress=not args.quiet)
    if not args.quiet:
        state = "built" if report.built else "up to date"
        print(f"{state}: {report.documents} documents, {report.chunks} chunks in {report.folder}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    settings = _settings(args)
    os.environ["QA_INDEX_DIR"] = str(settings.index_dir)
    os.environ["QA_CORPUS"] = str(settings.corpus)
    command = [
        gunicorn,
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--timeout",
        "120",
        "--access-logfile",
        "-",
        "qa.api:create_app()",
    ]
    print(f"qa: serving {settings.index_dir} on http://{args.host}:{args.port}", file=sys.stderr)
    os.execv(command[0], command)  # gunicorn takes over this process


def _ask(args: argparse.Namespace) -> int:
    from qa.pipeline import QAPipeline

    answer = QAPipeline.load(_settings(args)).ask(args.question, args.top_k)
    print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
