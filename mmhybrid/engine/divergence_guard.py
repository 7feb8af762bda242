# Copyright (c) mmhybrid contributors. All rights reserved.
"""Stop a diverging run at once, before it writes a checkpoint of NaN weights.

Without a guard, a run whose loss turns NaN at iteration 4 trains to the end: the optimizer
applies the NaN gradients, every later checkpoint holds NaN weights, and the numbers a
test of such a checkpoint prints mean nothing. :class:`DivergenceGuardHook` checks, after
every training iteration and before the checkpoint hook runs (priority ``VERY_HIGH``):

* the loss terms (every logged value whose name contains ``loss``, as MMEngine sums them):
  ``patience`` consecutive iterations with a non-finite term stop the run. Under AMP the
  dynamic loss scaler skips steps whose *gradients* overflow; their loss is finite, so they
  never count. A loss that stays non-finite does;
* the model's weights and floating-point buffers: a non-finite value stops the run at once
  (a non-finite gradient was applied; nothing later can recover from it).

The error (:class:`DivergenceError`) names the iteration, the loss terms, the non-finite
tensors and the last checkpoint the run wrote, which is still finite. ``tools/train.py`` adds
the hook to every run (opt out with ``--cfg-options divergence_guard=False``); other launchers
list it themselves::

    custom_hooks = [dict(type='mmhybrid.DivergenceGuardHook', patience=3)]

:class:`mmhybrid.AtomicCheckpointHook` also refuses to save non-finite weights, so no
checkpoint of a diverged model is written even without the guard.
"""
import math
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmhybrid.registry import HOOKS
from mmhybrid.utils.state_dict import describe_non_finite, non_finite_tensors

__all__ = ['DivergenceError', 'DivergenceGuardHook', 'non_finite_model_tensors']


class DivergenceError(RuntimeError):
    """Training diverged: the loss or the weights became NaN or infinite."""


def non_finite_model_tensors(model: torch.nn.Module) -> List[str]:
    """Names of the parameters and floating-point buffers of ``model`` that hold NaN or inf."""
    model = model.module if is_model_wrapper(model) else model
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    return non_finite_tensors({name: value.detach() for name, value in tensors.items()})


def _loss_terms(outputs) -> Dict[str, float]:
    """The logged loss terms of one iteration as floats."""
    terms = {}
    for name, value in (outputs or {}).items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().float().mean().item()
        if isinstance(value, (int, float)):
            terms[name] = float(value)
    return terms


def last_checkpoint(runner) -> Optional[str]:
    """The last checkpoint this run wrote (the checkpoint hook records it), else ``None``."""
    info = runner.message_hub.runtime_info
    return info.get('last_ckpt')


@HOOKS.register_module()
class DivergenceGuardHook(Hook):
    """Stop training when the loss or the weights become non-finite.

    Args:
        patience (int): How many consecutive iterations with a non-finite loss term stop the
            run (isolated ones are tolerated: under AMP they are skipped steps). Non-finite
            weights stop it at once. Default: 3.
        check_weights (bool): Also check every parameter and floating-point buffer after each
            iteration (one ``isfinite`` per tensor). Default: True.
    """
    priority = 'VERY_HIGH'  # before CheckpointHook (VERY_LOW), EMAHook and the logger

    def __init__(self, patience: int = 3, check_weights: bool = True):
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f'DivergenceGuardHook: patience must be an int >= 1, got '
                             f'{patience!r}.')
        self.patience = patience
        self.check_weights = check_weights
        self.bad_iterations: List[int] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        iteration = runner.iter + 1  # as MMEngine's log prints it
        terms = _loss_terms(outputs)
        if any(not math.isfinite(value) for value in terms.values()):
            self.bad_iterations.append(iteration)
        else:
            self.bad_iterations = []
        bad_weights = non_finite_model_tensors(runner.model) if self.check_weights else []
        if bad_weights:
            total = sum(1 for _ in runner.model.state_dict())
            self._stop(runner, iteration, terms,
                       'the weights became non-finite (a non-finite gradient was applied) in '
                       f'{describe_non_finite(bad_weights, total)}')
        if len(self.bad_iterations) >= self.patience:
            self._stop(runner, iteration, terms,
                       f'the loss was non-finite in {len(self.bad_iterations)} consecutive '
                       f'iterations (from iteration {self.bad_iterations[0]})')

    def _stop(self, runner, iteration: int, terms: Dict[str, float], what: str) -> None:
        losses = ', '.join(f'{name}={value:.4g}' for name, value in terms.items()) or 'none'
        checkpoint = last_checkpoint(runner)
        if checkpoint:
            last_good = (f'The last checkpoint of this run, {checkpoint}, was saved before '
                         'and holds finite weights')
        else:
            last_good = 'This run saved no checkpoint'
        raise DivergenceError(
            f'Training diverged at iteration {iteration}: {what}. Loss terms: {losses}. '
            f'Stopped before saving anything more. {last_good}. Lower the learning rate or '
            'clip gradients (optim_wrapper.clip_grad=dict(max_norm=...)), check the data, '
            'then train again (load_from=<checkpoint> starts from those weights).')
