"""``python -m qdisclab`` runs the command line."""

import sys

from qdisclab.cli import main

sys.exit(main())
