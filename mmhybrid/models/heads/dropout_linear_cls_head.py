# Copyright (c) mmhybrid contributors. All rights reserved.
"""MMPretrain's ``LinearClsHead`` with dropout before the linear layer (HAT-Net / TransCNN)."""
from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead

from mmhybrid.registry import MODELS


@MODELS.register_module()
class DropoutLinearClsHead(LinearClsHead):
    """``Dropout`` then ``Linear`` (``fc``) on pooled features.

    The HAT-Net and TransCNN classifiers are ``Dropout(0.2)`` followed by a linear layer, the
    dropout hard-coded in the authors' model files (yun-liu/TransCNN ``HAT_Net.py`` and
    ``TransCNN.py``). The dropout has no parameters, so the state dict is that of
    :class:`mmpretrain.models.heads.LinearClsHead` (``fc.weight``, ``fc.bias``) and converted
    checkpoints load unchanged; in eval mode the output equals ``LinearClsHead``'s.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Pooled feature channels.
        dropout_rate (float): Probability of zeroing a feature during training, in [0, 1).
            Defaults to 0.2 (the authors' value).
        **kwargs: the other arguments of :class:`~mmpretrain.models.heads.LinearClsHead`
            (``loss``, ``topk``, ``cal_acc``, ``init_cfg``).

    Example:
        >>> import torch
        >>> from mmhybrid.models import DropoutLinearClsHead
        >>> head = DropoutLinearClsHead(num_classes=10, in_channels=8).eval()
        >>> print(tuple(head((torch.rand(2, 8), )).shape))
        (2, 10)
    """

    def __init__(self, num_classes: int, in_channels: int, dropout_rate: float = 0.2, **kwargs):
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        if not 0 <= dropout_rate < 1:
            raise ValueError(f'dropout_rate={dropout_rate} must be in [0, 1)')
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(self.pre_logits(feats)))
