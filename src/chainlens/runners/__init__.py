"""chainlens.runners."""

__all__: list[str] = []
