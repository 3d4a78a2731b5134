"""Binomial confidence intervals for hit rates."""

from __future__ import annotations

import math

__all__ = ["Z95", "wilson_interval"]

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(hits: int, n: int, *, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a binomial proportion ``hits / n``.

    Parameters
    ----------
    hits
        Successes (0 <= hits <= n).
    n
        Trials. ``n == 0`` gives ``(None, None)``: no rate without events.
    z
        Normal quantile (1.96 for 95%).

    Returns
    -------
    tuple
        ``(low, high)``, both in [0, 1].

    Notes
    -----
    With :math:`\\hat p = h/n` (Wilson 1927):

    .. math::
        \\frac{\\hat p + \\frac{z^2}{2n} \\pm z\\sqrt{\\frac{\\hat p(1-\\hat p)}{n}
        + \\frac{z^2}{4n^2}}}{1 + \\frac{z^2}{n}}

    Examples
    --------
    >>> lo, hi = wilson_interval(9, 31)
    >>> round(lo, 4), round(hi, 4)
    (0.161, 0.4659)
    >>> wilson_interval(0, 0)
    (None, None)
    """
    if n < 0 or hits < 0 or hits > n:
        raise ValueError(f"need 0 <= hits <= n, got hits={hits}, n={n}")
    if n == 0:
        return None, None
    p = hits / n
    z2 = z * z
    den = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)
