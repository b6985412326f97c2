"""ACME's shared deployplay modules (an example module library)."""

__version__ = "0.1.0"
