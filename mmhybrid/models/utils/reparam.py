# Copyright (c) mmhybrid contributors. All rights reserved.
"""The reparameterization protocol that every block folding for inference follows.

A folding block subclasses :class:`ReparameterizableMixin` and gets:

- one ``deploy`` flag: False until the block is folded; ``deploy=True`` at construction builds
  the folded structure directly (the block's ``__init__`` asks :func:`deploy_norm` what each
  norm slot holds once folded), so a folded state dict loads strictly;
- one public, idempotent :meth:`~ReparameterizableMixin.reparameterize`: a no-op on a folded
  block; otherwise it checks every norm that the block and its unfolded sub-blocks fold (an
  error leaves the block untouched), runs the block's ``_fold()`` and sets ``deploy=True``;
- one policy for a norm that cannot be folded: :class:`UnfoldableNormError`, naming the block
  (its class with module path, its place in the model when folded through an owner, the slot
  and the norm), raised both by ``deploy=True`` construction and by ``reparameterize()``.

Which norms a block folds (its *norm slots*, :meth:`ReparameterizableMixin._norm_slots`) is
the block's design. Blocks whose folded structure has no norm (conv + BN pairs, LocalAgg, the
TopFormer classifier head) fold every slot, so only a BatchNorm (BN, SyncBN) with running
statistics fits there. Blocks whose ``norm_cfg`` chooses between a BatchNorm and a per-sample
norm by design (``keeps_per_sample_norms``: the TransCNN / HAT-Net blocks and H-MHSA, whose
HAT-Net form uses GroupNorm) keep a per-sample norm (GroupNorm, LayerNorm, InstanceNorm) in
the deployed network, since no conv can absorb it; a BatchNorm there must fold like anywhere
else. The folding arithmetic itself lives in :mod:`mmhybrid.models.utils.deploy`.
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .deploy import can_fold


def _qualified_name(block) -> str:
    cls = block if isinstance(block, type) else type(block)
    return f'{cls.__module__}.{cls.__qualname__}'


class UnfoldableNormError(ValueError):
    """A norm that a block must fold for inference cannot be folded.

    The message names the block (class and module path, and ``path``, its place in the model,
    when known), the norm slot and the norm type. ``block`` (the class), ``slot``, ``norm`` (the
    norm's class name) and ``path`` are kept as attributes.
    """

    def __init__(self, block, slot: str, norm: nn.Module, path: str = ''):
        self.block = block if isinstance(block, type) else type(block)
        self.slot = slot
        self.norm = type(norm).__name__
        self.path = path
        self._norm_module = norm
        stats = ' without running statistics' if isinstance(norm, _BatchNorm) else ''
        where = f' at {path!r}' if path else ''
        super().__init__(
            f'{self.block.__name__} ({_qualified_name(self.block)}){where} cannot fold its norm '
            f'{slot!r}, a {self.norm}{stats}: this block folds BatchNorms only (BN, SyncBN with '
            'running statistics, an affine map at inference). Build it with a BatchNorm norm_cfg, '
            'or run it unfolded (deploy=False, no reparameterize()).')

    def __reduce__(self):  # picklable (worker processes), despite the custom signature
        return UnfoldableNormError, (self.block, self.slot, self._norm_module, self.path)

    def within(self, prefix: str) -> 'UnfoldableNormError':
        """The same error, with the block's path seen from the module named ``prefix``."""
        if not prefix:
            return self
        path = f'{prefix}.{self.path}' if self.path else prefix
        return UnfoldableNormError(self.block, self.slot, self._norm_module, path)


def folds_norm(block, slot: str, norm: Optional[nn.Module]) -> bool:
    """Whether ``block`` folds ``norm`` (in its slot ``slot``) when it deploys.

    False for an absent or already folded slot (``None``, ``nn.Identity``) and, in a block that
    ``keeps_per_sample_norms``, for a norm that is not a BatchNorm. True for a foldable
    BatchNorm.

    Raises:
        UnfoldableNormError: the block must fold ``norm`` and cannot.
    """
    if norm is None or isinstance(norm, nn.Identity):
        return False
    if getattr(block, 'keeps_per_sample_norms', False) and not isinstance(norm, _BatchNorm):
        return False
    if not can_fold(norm):
        raise UnfoldableNormError(block, slot, norm)
    return True


def deploy_norm(block, slot: str, norm: nn.Module) -> nn.Module:
    """What norm slot ``slot`` of ``block`` holds in the folded structure that ``deploy=True``
    builds: ``nn.Identity()`` where the norm folds, the norm itself where the block keeps it.

    ``norm`` is the norm of the unfolded structure (built from the block's ``norm_cfg``);
    ``block`` may be the instance under construction or its class.

    Raises:
        UnfoldableNormError: the block must fold ``norm`` and cannot.
    """
    return nn.Identity() if folds_norm(block, slot, norm) else norm


class ReparameterizableMixin:
    """The reparameterization protocol (see the module docstring); mix in before the
    ``nn.Module`` base class.

    A subclass sets ``self.deploy = deploy`` in ``__init__`` (building the folded structure when
    True), implements :meth:`_fold` and, if it folds norms itself, :meth:`_norm_slots`.
    """

    #: False until folded; ``deploy=True`` at construction builds the folded structure.
    deploy: bool = False
    #: Keep a per-sample norm (GroupNorm, LayerNorm, ...) of a norm slot in the deployed block
    #: instead of raising :class:`UnfoldableNormError` (blocks whose design allows one there).
    keeps_per_sample_norms: bool = False

    def _norm_slots(self) -> Dict[str, Optional[nn.Module]]:
        """``{slot name: norm}`` of the norms this block itself folds (not its sub-blocks')."""
        return {}

    def _fold(self) -> None:
        """Fold the block in place: its norms of :meth:`norms_to_fold` (through
        :mod:`mmhybrid.models.utils.deploy`) and its sub-blocks (their ``reparameterize()``).
        Called by :meth:`reparameterize` only, once, after every check passed."""
        raise NotImplementedError

    def norms_to_fold(self) -> Dict[str, nn.Module]:
        """``{slot name: norm}`` that :meth:`_fold` folds (:func:`folds_norm` of every slot).

        Raises:
            UnfoldableNormError: a norm the block must fold cannot be folded.
        """
        return {slot: norm for slot, norm in self._norm_slots().items()
                if folds_norm(self, slot, norm)}

    def check_foldable(self) -> None:
        """Raise :class:`UnfoldableNormError` (with the offending block's path) if this block or
        one of its unfolded sub-blocks has a norm it must fold and cannot; change nothing."""
        for name, module in self.named_modules():
            if isinstance(module, ReparameterizableMixin) and not module.deploy:
                try:
                    module.norms_to_fold()
                except UnfoldableNormError as error:
                    raise error.within(name) from None

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold the block for inference, in place (uses the BatchNorm running statistics).

        Idempotent: a folded block (``deploy=True``, folded or built so) is left alone. The
        result equals the block built with ``deploy=True`` and loaded with the folded state
        dict.

        Raises:
            UnfoldableNormError: a norm the block must fold cannot be folded (nothing changed).
        """
        if self.deploy:
            return
        self.check_foldable()
        self._fold()
        self.deploy = True
