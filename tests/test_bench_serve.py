"""`make bench-serve`'s script, run for real on a short load: two cross-encoder settings in one
run, idle connections held meanwhile, every figure printed and no request failing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from qa.config import Settings

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_serve.py"


def test_bench_serve_compares_settings_in_one_run(seed_settings: Settings) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--index-dir",
            str(seed_settings.index_dir),
            "--seconds",
            "2",
            "--clients",
            "2",
            "--questions",
            "3",
            "--idle",
            "4",
            "--rerankers",
            "off,fast",
            "--pair-caches",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.match(r"CPU: .+; \d+ (of \d+ )?cores; ", out), out[:200]
    sections = re.split(r"^== QA_RERANKER=", out, flags=re.M)[1:]
    assert [s.split("\n", 1)[0] for s in sections] == [
        "off QA_PAIR_CACHE=0",
        "fast QA_PAIR_CACHE=0",
    ]
    for section in sections:
        load = re.search(
            r"^2 clients x 2 s \+ 4 idle\s+(\d+)\s+([\d.]+)\s.*\s(\d+)$", section, re.M
        )
        assert load is not None, section
        assert int(load.group(1)) > 0 and float(load.group(2)) > 0
        assert load.group(3) == "0"  # errors
        cpu = re.search(r"server CPU ([\d.]+) ms an answer, (\d+)% of (\d+) cores", section)
        assert cpu is not None and float(cpu.group(1)) > 0, section
        assert re.search(r"server RSS: \d+ MiB at the start of the load, max \d+ MiB", section)
        assert "idle connections: 4 held" in section
