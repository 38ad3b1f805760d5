"""The version of Sessionboard (one place: the package, the CLI and the OpenAPI document)."""

__version__ = "0.1.0"
