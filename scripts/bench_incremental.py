"""What an index update costs against a full build, on SQuAD v1.1 dev (2,067 paragraphs).

Runs `qa index` as a user would (a fresh process each time, model load included) for: a full
build, then on a private copy of the corpus and index, changing one paragraph, adding one,
removing one, and a re-run with nothing changed. Prints seconds per step and the share of the
full build. `make bench-incremental`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_index(corpus: Path, index_dir: Path, *, force: bool = False) -> tuple[float, str]:
    """Seconds of one `qa index` process and its summary line."""
    command = [sys.executable, "-m", "qa.cli", "index", "--corpus", str(corpus)]
    command += ["--index-dir", str(index_dir), "--quiet"] + (["--force"] if force else [])
    live = (index_dir / "current").resolve() if (index_dir / "current").exists() else None
    started = time.perf_counter()
    quiet = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if quiet.returncode != 0:
        sys.exit(f"qa index failed:\n{quiet.stderr}")
    if (index_dir / "current").resolve() == live:
        return seconds, "up to date: nothing written"
    manifest = json.loads((index_dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    changes = manifest.get("changes", {})
    return seconds, ", ".join(f"{k} {v}" for k, v in changes.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--squad", type=Path, default=ROOT.parent / "shared/bench/external/squad-v1.1-dev.json"
    )
    parser.add_argument("--full-index", type=Path, default=ROOT / "build/squad-v1.1")
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench-incremental")
    parser.add_argument(
        "--reuse-full",
        type=float,
        metavar="SECONDS",
        help="skip the full build: the index in --full-index is current and took SECONDS",
    )
    args = parser.parse_args()

    rows: list[tuple[str, float, str]] = []
    if args.reuse_full is None:
        print("full build (every paragraph embedded) ...", flush=True)
        full, summary = run_index(args.squad, args.full_index, force=True)
    else:
        full, summary = args.reuse_full, "(given)"
    rows.append(("full build", full, summary))

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    corpus, index_dir = args.work / "squad.json", args.work / "index"
    shutil.copyfile(args.squad, corpus)
    shutil.copytree(args.full_index, index_dir, symlinks=True)
    data = json.loads(corpus.read_text(encoding="utf-8"))

    def step(name: str, edit) -> None:
        if edit is not None:
            edit(data["data"])
            corpus.write_text(json.dumps(data), encoding="utf-8")
        print(f"{name} ...", flush=True)
        seconds, summary = run_index(corpus, index_dir)
        rows.append((name, seconds, summary))

    step("same documents, new corpus path", None)
    step(
        "change one paragraph",
        lambda articles: articles[3]["paragraphs"][2].__setitem__(
            "context", articles[3]["paragraphs"][2]["context"] + " This sentence was added later."
        ),
    )
    step(
        "add one paragraph",
        lambda articles: articles[5]["paragraphs"].append(
            {"context": "The benchmark added this paragraph. It says little.", "qas": []}
        ),
    )
    step("remove one paragraph", lambda articles: articles[5]["paragraphs"].pop())
    step("nothing changed", None)

    # What a server's PUT pays: the same build in a process that already holds the model.
    from qa.build import build_index, default_embedder
    from qa.config import Settings

    settings = Settings(corpus=corpus, index_dir=index_dir)
    default_embedder(settings)
    data["data"][7]["paragraphs"][1]["context"] += " One more sentence, in process."
    corpus.write_text(json.dumps(data), encoding="utf-8")
    started = time.perf_counter()
    report = build_index(settings, progress=False)
    rows.append(
        ("change one, model already loaded", time.perf_counter() - started, report.summary())
    )

    print()
    print(f"{'step':<34} {'seconds':>8} {'of full':>8}  changes")
    for name, seconds, summary in rows:
        print(f"{name:<34} {seconds:8.1f} {100 * seconds / full:7.1f}%  {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
