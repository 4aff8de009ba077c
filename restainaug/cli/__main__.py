"""``python -m restainaug.cli``: the ``restainaug`` command, as ``python -m restainaug``."""

import sys

from . import main

sys.exit(main())
