"""The package version, in a module of its own: modules that report it import it without importing the package's API."""

__version__ = "0.1.0"
