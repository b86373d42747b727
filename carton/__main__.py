"""``python -m carton``."""

import sys

from carton.cli.main import main

sys.exit(main())
