"""``python -m restainaug``: the ``restainaug`` command (also what ``torchrun -m`` runs)."""

import sys

from .cli import main

sys.exit(main())
