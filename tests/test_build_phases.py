"""`qa index` times each phase of a build: in its report, and on stderr at the end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.build import build_index
from qa.config import Settings

FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
PHASES = [
    "reading",
    "waiting for the model",
    "chunking",
    "embedding chunks",
    "embedding sentences",
    "embedding titled sentences",
    "writing",
]


def test_a_build_reports_every_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(corpus=FIXTURE_CORPUS, index_dir=tmp_path / "index")
    report = build_index(settings, progress=True)
    assert report.built
    assert list(report.phases) == PHASES
    assert all(seconds >= 0 for seconds in report.phases.values())
    # The laps run end to end: they add up to the build's time.
    assert sum(report.phases.values()) == pytest.approx(report.seconds, rel=0.02, abs=0.01)

    err = capsys.readouterr().err
    line = re.search(r"^qa: time per phase: (.*); total ([\d.]+)s$", err, re.M)
    assert line is not None, err
    printed = dict(re.findall(r"([a-z ]+) ([\d.]+)s", line.group(1)))
    assert [phase.strip() for phase in printed] == PHASES
    assert float(line.group(2)) == pytest.approx(report.seconds, abs=0.05)

    # Nothing to build: no phases, and no line.
    again = build_index(settings, progress=True)
    assert not again.built and again.phases == {}
    assert "time per phase" not in capsys.readouterr().err
