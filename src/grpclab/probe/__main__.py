"""``python -m grpclab.probe``: the probe's command line, as ``grpclab-probe``."""

import sys

from grpclab.probe.cli import main

sys.exit(main())
