"""In-silico data sets: re-stained copies of a labelled folder on disk (``restainaug generate``).

Layout of ``out/``::

    images/<stem>_v0.png       the input field itself (``include_original``), uint8 RGB
    images/<stem>_v<k>.png     re-stained variant k = 1..variants, uint8 RGB
    labels/<stem>_v<k>.png     the input labels, ids unchanged (16-bit; .tif above 65535)
    records/<stem>_v<k>.json   source files and their sha256, variant, seed, model, policy,
                               the operations applied and the drawn parameters
    manifest.json              settings, and every output's record without its parameters

Output ``k`` of the field ``stem`` draws its parameters from `output_seed` of
``(seed, stem, k)`` alone, so outputs do not depend on order, batching or sharding, and
`regenerate` rebuilds any one of them from its record.

Resuming: the record is written last (atomically, like the image and labels), so an output
whose record exists is complete and is skipped; anything else is written again.

Sharding: process ``rank`` of ``world`` (``RANK`` and ``WORLD_SIZE`` under ``torchrun``)
writes the outputs whose index is ``rank`` modulo ``world``. ``manifest.json`` is written at
the start with the settings (``"complete": false``) and rebuilt from all records by any
process that finds every record present when it finishes (rank 0 only, after a barrier, when
a ``torch.distributed`` process group is initialised). A later run with ``world=1``
completes whatever is missing.

Modules: `restainaug.generate.writer` (``generate``), `restainaug.generate.replay`
(``regenerate``), `restainaug.generate.fields` (input fields, outputs and their seeds, the
recorded settings) and `restainaug.generate.manifest` (records and ``manifest.json``).
"""

from __future__ import annotations

from .fields import output_seed
from .replay import regenerate
from .writer import generate

__all__ = ["generate", "output_seed", "regenerate"]
