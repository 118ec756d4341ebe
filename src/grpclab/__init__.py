"""grpclab: prove that gRPC load balancing on Kubernetes works per request."""

from importlib.metadata import PackageNotFoundError, version

# the longest deadline, interval or grace any command takes, in seconds: longer is a typo, and
# far longer overflows gRPC's deadlines and Python's thread waits (a traceback, or calls that
# fail at once)
MAX_SECONDS = 86400.0

try:
    __version__ = version("grpclab")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
