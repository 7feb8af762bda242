# Copyright (c) mmhybrid contributors. All rights reserved.
"""Checkpoint converters: the authors' released weights -> mmhybrid, one module per family.

Each family module has a :func:`convert_file` (convert, verify with ``strict=True``, write
atomically) and the pieces it is built from. The command lines are thin wrappers in
``tools/model_converters/<family>2mmhybrid.py``; :mod:`mmhybrid.apis.official_weights` calls
:data:`CONVERTERS` directly. The helpers the families share (safe loading, picking the weights
out of a training checkpoint, the strict check, ``error: <message>`` reporting) are in
:mod:`mmhybrid.utils.converters`.
"""
from . import edgevit, hatnet, topformer

__all__ = ['edgevit', 'hatnet', 'topformer', 'CONVERTERS']

#: Tool name (``tools/model_converters/<name>2mmhybrid.py``) -> its ``convert_file``.
CONVERTERS = dict(topformer=topformer.convert_file, edgevit=edgevit.convert_file,
                  hatnet=hatnet.convert_file)
