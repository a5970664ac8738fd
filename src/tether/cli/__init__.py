"""The ``tether`` command line: one Typer app, one module per command group."""

from tether.cli._app import app, main

__all__ = ["app", "main"]
