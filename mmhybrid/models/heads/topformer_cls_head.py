# Copyright (c) mmhybrid contributors. All rights reserved.
"""The TopFormer ImageNet classification head (BatchNorm1d then Linear)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead

from mmhybrid.models.utils.deploy import fold_preceding_bn_into_linear
from mmhybrid.models.utils.reparam import ReparameterizableMixin, deploy_norm
from mmhybrid.registry import MODELS


@MODELS.register_module()
class TopFormerClsHead(ReparameterizableMixin, ClsHead):
    """``BatchNorm1d`` (``bn``) then ``Linear`` (``l``) on pooled TopFormer semantics.

    The authors did not release classification code; their ImageNet checkpoints (and their
    answers in hustvl/TopFormer#5/#17) show this head on the globally pooled output of the
    semantics extractor (``head.bn.*``, ``head.l.*``), which these names keep.

    :meth:`reparameterize` folds the (inference-mode) norm into the linear layer; ``deploy=True``
    builds that structure (``bn`` is ``nn.Identity``, keys ``l.weight``/``l.bias`` only). The
    fold is exact in eval mode, where the dropout between the two is the identity.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Pooled feature channels (208 / 296 / 384 for T / S / B).
        dropout_rate (float): Dropout between the norm and the linear layer. Defaults to 0.
        deploy (bool): Build the folded structure (no norm). Defaults to False.
        init_cfg (dict, optional): Defaults to ``Normal(std=0.01)`` for the linear layer.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of :class:`mmpretrain.models.heads.ClsHead`.

    Example:
        >>> import torch
        >>> from mmhybrid.models import TopFormerClsHead
        >>> head = TopFormerClsHead(num_classes=1000, in_channels=208).eval()
        >>> print(tuple(head((torch.rand(2, 208), )).shape))
        (2, 1000)
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_rate: float = 0.,
                 deploy: bool = False,
                 init_cfg: Optional[dict] = dict(type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be a positive integer')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.deploy = deploy
        self.bn = nn.BatchNorm1d(in_channels)
        if deploy:
            self.bn = deploy_norm(self, 'bn', self.bn)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.l = nn.Linear(in_channels, num_classes)  # noqa: E741 (the authors' key name)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Take the last feature, a ``(B, in_channels)`` pooled vector, and normalise it."""
        feat = feats[-1]
        if feat.dim() != 2:
            raise ValueError(f'TopFormerClsHead expects pooled (B, C) features, got shape '
                             f'{tuple(feat.shape)}; add neck=dict(type="GlobalAveragePooling").')
        return self.bn(feat)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.l(self.dropout(self.pre_logits(feats)))

    def _norm_slots(self) -> Dict[str, nn.Module]:
        return {'bn': self.bn}

    def _fold(self) -> None:
        """Fold the (inference-mode) ``BatchNorm1d`` into the linear layer."""
        fold_preceding_bn_into_linear(self.bn, self.l)
        self.bn = nn.Identity()
