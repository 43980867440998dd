"""The CPU a figure was measured on: its model, the vector extensions that matter here, its cores.

Encoder speed depends on the CPU more than on anything in this code (int8 matrix products gain
little without VNNI, AVX-512 or AMX), so every benchmark starts with ``describe_cpu()`` and a
record of training says ``cpu_name()``. Read from ``/proc/cpuinfo`` (x86 ``flags``, Arm
``Features``); elsewhere ``platform`` gives what it can. Standard library only, so any script can
import it.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The extensions that change how fast the encoders run, in the order they are shown. x86: the
# vector widths, int8 dot products (VNNI), bfloat16/float16, AMX tiles; Arm: NEON, int8 dot
# products and matrix products, SVE.
VECTOR_FLAGS = (
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
    "asimd",
    "asimddp",
    "i8mm",
    "bf16",
    "sve",
    "sve2",
)


@dataclass(frozen=True)
class CpuInfo:
    """What a benchmark prints about the CPU it ran on."""

    model: str
    vector: tuple[str, ...]  # the ``VECTOR_FLAGS`` it has, in that order
    cores: int  # the cores this process may run on
    logical: int  # the logical CPUs the machine has

    def describe(self) -> str:
        """One line, e.g. ``AMD EPYC; 2 cores; avx avx2 fma avx512f ... (no AMX)``."""
        cores = f"{self.cores} cores"
        if self.cores != self.logical:
            cores = f"{self.cores} of {self.logical} cores"
        vector = " ".join(self.vector) or "no vector extensions known here"
        if self.vector and any(f.startswith("avx") for f in self.vector):
            missing = [
                name
                for name, flags in (
                    ("AVX-512", ("avx512f",)),
                    ("VNNI", ("avx_vnni", "avx512_vnni")),
                    ("AMX", ("amx_tile",)),
                )
                if not any(f in self.vector for f in flags)
            ]
            if missing:
                vector += f" (no {', no '.join(missing)})"
        return f"{self.model}; {cores}; {vector}"


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    """The model name and the ``VECTOR_FLAGS`` present, from the text of ``/proc/cpuinfo``.

    Only the first processor's block is read (they agree on any machine this runs on). The model
    is ``model name`` (x86; with its family and model numbers when the name has no number), else
    ``Processor`` / ``Hardware`` / ``CPU part`` (Arm); ``""`` when none is given.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the end of the first processor's block
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    model = next(
        (
            fields[k]
            for k in ("model name", "processor", "hardware", "cpu part")
            if _named(fields, k)
        ),
        "",
    )
    if model and not any(c.isdigit() for c in model) and "cpu family" in fields:
        # a hypervisor's bare "AMD EPYC": the family and model tell the generation apart
        model += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    present = set((fields.get("flags") or fields.get("features") or "").split())
    return model, tuple(f for f in VECTOR_FLAGS if f in present)


def _named(fields: dict[str, str], key: str) -> bool:
    # x86's "processor" field is the CPU's number, not a name
    value = fields.get(key, "")
    return bool(value) and not value.isdigit()


def cpu_info(cpuinfo: Path = CPUINFO) -> CpuInfo:
    """This machine's ``CpuInfo``."""
    try:
        model, vector = parse_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        model, vector = "", ()
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    logical = os.cpu_count() or 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return CpuInfo(model, vector, cores, logical)


def cpu_name() -> str:
    """The CPU's model name (for the record of where a run was made)."""
    return cpu_info().model


def describe_cpu() -> str:
    """``CPU: <model>; <cores>; <vector extensions>``: the first line of a benchmark's output."""
    return f"CPU: {cpu_info().describe()}"
