"""Deprecated alias of `restainaug.evaluation`: each use warns; import from there."""

from ._moved import moved_module

__getattr__, __dir__ = moved_module(__name__, "restainaug.evaluation")
