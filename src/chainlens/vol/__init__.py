"""chainlens.vol."""

__all__: list[str] = []
