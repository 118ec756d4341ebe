"""grpclab: prove that gRPC load balancing on Kubernetes works per request."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("grpclab")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
