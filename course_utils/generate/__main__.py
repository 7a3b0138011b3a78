"""``python -m course_utils.generate --prompt "..."``: the command line of ``course_utils.generate``.

It lives in its own file so that running it does not import the module twice (the package
``course_utils`` already imports ``course_utils.generate`` for ``cu.generate``).
"""

import sys

from . import main

sys.exit(main())
