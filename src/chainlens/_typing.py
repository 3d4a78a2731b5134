"""Shaped array aliases and domain literals shared across chainlens."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

Float64Array: TypeAlias = npt.NDArray[np.float64]
Int64Array: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ArrayLike: TypeAlias = npt.ArrayLike

Right: TypeAlias = Literal["C", "P"]
Settlement: TypeAlias = Literal["AM", "PM"]
GreeksSource: TypeAlias = Literal["vendor", "model"]
DealerModel: TypeAlias = Literal["classic", "short_all", "flow"]
Side: TypeAlias = Literal["buy", "sell", "mid", "unknown"]
ExpiryClass: TypeAlias = Literal["0dte", "weekly", "monthly", "quarterly", "leaps"]
