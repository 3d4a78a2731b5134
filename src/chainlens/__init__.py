"""chainlens: end-of-day options positioning and flow analytics.

The public API is re-exported here as it lands; see ``__all__``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
