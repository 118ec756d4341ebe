"""``python -m grpclab.lab``: the same as ``grpclab-lab``."""

from grpclab.lab.cli import main

raise SystemExit(main())
