"""chainlens.exposure."""

__all__: list[str] = []
