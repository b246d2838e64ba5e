"""The fusion engine's own exception type."""


class UnsupportedModelError(ValueError):
    """The model's graph holds an operation whose neurons cannot be aligned."""
