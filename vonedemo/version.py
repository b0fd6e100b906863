"""The package version, in a module of its own so core modules can read it without importing
the package's public API (``vonedemo/__init__.py`` imports them)."""

__version__ = "0.1.0"
