"""liftbench: LiftPool (Zhao & Snoek, ICLR 2021) and a robustness benchmark of ConvNet pooling."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("robustbench-lift")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
