#!/usr/bin/env python3
"""The probe's command line in a checkout: ``python tools/probe.py --target ... --expect spread``.

Thin on purpose: the logic lives in the installed package (``grpclab.probe``), which is also the
``grpclab-probe`` command.
"""

import sys

from grpclab.probe import main

if __name__ == "__main__":
    sys.exit(main())
