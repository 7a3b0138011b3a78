"""``python -m course_utils.train``: see ``cli.py``."""

import sys

from .cli import main

sys.exit(main())
