# Copyright (c) mmhybrid contributors. All rights reserved.
from .edgevit import EdgeViT

__all__ = ['EdgeViT']
