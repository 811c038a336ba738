"""Suite-wide settings: make the repository importable for ``tests.helpers``."""
