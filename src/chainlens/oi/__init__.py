"""chainlens.oi."""

__all__: list[str] = []
