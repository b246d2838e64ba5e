"""``python -m fedot.deploy``."""

import sys

from fedot.deploy.cli import main

sys.exit(main())
