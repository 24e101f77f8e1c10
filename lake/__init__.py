"""lakeprep core: contracts, the Delta table layer, validation, zone transforms and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lakeprep")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+local"
