"""chainlens.scan."""

__all__: list[str] = []
