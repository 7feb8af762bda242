# Copyright (c) mmhybrid contributors. All rights reserved.
__all__ = []
