"""``python -m grpclab.report``."""

import sys

from grpclab.report.cli import main

sys.exit(main())
