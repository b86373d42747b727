"""Carton: a Linux container runtime written in Python, meant to be read."""

__version__ = "0.1.0"
