"""The CPU line every benchmark starts with: model, cores and vector extensions from cpuinfo."""

from __future__ import annotations

from pathlib import Path

from qa import hardware
from qa.hardware import CpuInfo, parse_cpuinfo

INTEL = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw avx512vl avx_vnni avx512_vnni \
avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse
"""

AMD = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx fma f16c avx2 bmi2
"""

ARM = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes crc32 asimddp i8mm bf16 sve sve2
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


def test_intel_with_amx() -> None:
    model, vector = parse_cpuinfo(INTEL)
    assert model == "Intel(R) Xeon(R) Platinum 8488C"
    assert vector == (
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx_vnni",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
    )
    line = CpuInfo(model, vector, 4, 4).describe()
    assert line.startswith("Intel(R) Xeon(R) Platinum 8488C; 4 cores; avx avx2 ")
    assert "(no" not in line  # nothing of note missing


def test_bare_amd_name_gets_family_and_says_what_is_missing() -> None:
    model, vector = parse_cpuinfo(AMD)
    assert model == "AMD EPYC (family 25, model 1)"
    assert vector == ("avx", "avx2", "fma")
    line = CpuInfo(model, vector, 2, 8).describe()
    assert (
        line
        == "AMD EPYC (family 25, model 1); 2 of 8 cores; avx avx2 fma (no AVX-512, no VNNI, no AMX)"
    )


def test_arm_features() -> None:
    model, vector = parse_cpuinfo(ARM)
    assert model == "0xd40"
    assert vector == ("asimd", "asimddp", "i8mm", "bf16", "sve", "sve2")
    assert "(no" not in CpuInfo(model, vector, 1, 1).describe()


def test_empty_or_missing_cpuinfo(tmp_path: Path) -> None:
    assert parse_cpuinfo("") == ("", ())
    info = hardware.cpu_info(tmp_path / "absent")
    assert info.model and info.vector == () and 1 <= info.cores <= info.logical
    assert "no vector extensions known here" in info.describe()


def test_this_machine() -> None:
    assert hardware.describe_cpu().startswith("CPU: ")
    assert hardware.cpu_name()
