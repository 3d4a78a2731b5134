"""chainlens: end-of-day options positioning and flow analytics.

The most used names are re-exported here and imported lazily on first access, so that
``import chainlens`` (and the CLI start-up) stays cheap. Everything else lives in the
subpackages: ``io``, ``store``, ``pricing``, ``exposure``, ``vol``, ``flow``, ``oi``, ``scan``,
``sim``, ``report``, plus the modules ``schema``, ``conventions``, ``symbols``, ``calendar``,
``analysis``, ``pipeline`` and ``market``.

Examples
--------
>>> import chainlens
>>> chainlens.analyze_chain.__module__
'chainlens.analysis'
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AnalysisConfig": "chainlens.analysis",
    "ChainAnalysis": "chainlens.analysis",
    "analyze_chain": "chainlens.analysis",
    "read_chain": "chainlens.io",
    "read_file": "chainlens.io",
    "detect_format": "chainlens.io",
    "Store": "chainlens.store",
    "IngestResult": "chainlens.store",
    "analyze_flow": "chainlens.flow",
    "FlowConfig": "chainlens.flow",
    "analyze_oi": "chainlens.oi",
    "OIConfig": "chainlens.oi",
    "analyze_underlying": "chainlens.pipeline",
    "run_session": "chainlens.runners.local",
    "PipelineConfig": "chainlens.pipeline",
    "simulate_market": "chainlens.sim",
    "build_demo_market": "chainlens.sim",
    "SimConfig": "chainlens.sim",
    "ChainlensError": "chainlens.errors",
    "InputError": "chainlens.errors",
    "UnknownFormatError": "chainlens.errors",
    "StoreError": "chainlens.errors",
    "NotFoundError": "chainlens.errors",
    "ConfigError": "chainlens.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chainlens' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
