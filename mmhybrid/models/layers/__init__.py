# Copyright (c) mmhybrid contributors. All rights reserved.
"""Reusable building blocks, registered in the ``mmhybrid`` scope (``type='mmhybrid.X'``)."""
__all__ = []
