"""vonedemo: see adversarial examples happen, and whether a VOneNet front-end stops them."""

__version__ = "0.1.0"
