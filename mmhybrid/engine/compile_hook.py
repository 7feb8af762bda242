# Copyright (c) mmhybrid contributors. All rights reserved.
"""Training and evaluation with ``torch.compile`` that works: the forward passes only.

``tools/train.py --compile [MODE]`` and the config key ``compile_forward`` (for ``mim train``
and any launcher that goes through ``tools/train.py``) add :class:`CompileForwardHook`; a config
run by another launcher lists the hook itself::

    custom_hooks = [dict(type='mmhybrid.CompileForwardHook', mode='default')]

The hook calls :func:`mmhybrid.utils.compile.compile_forward` on the runner's model (unwrapped
from DDP) before the run starts; see there for what is compiled and why the optimizer is not.
The first iteration pays the compilation time; later ones run the compiled code. Validation
and testing run the eager forward by default: their pipelines resize images to varying sizes,
on which inductor recompiles for every new size or fails (``adaptive_avg_pool2d`` with
symbolic sizes on torch 2.13, e.g. TopFormer at the first ADE20K validation); pass
``compile_eval=True`` for fixed-size evaluation pipelines. State-dict keys are unchanged, so
checkpoints stay interchangeable with eager runs.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmhybrid.registry import HOOKS
from mmhybrid.utils.compile import (
    compile_forward,
    parse_compile_setting,
    use_compiled_forward,
)

__all__ = ['CompileForwardHook']


@HOOKS.register_module()
class CompileForwardHook(Hook):
    """Compile the model's backbone, neck, heads and losses with ``torch.compile``.

    Args:
        mode (str, optional): ``torch.compile`` mode: 'default', 'reduce-overhead' (CUDA
            graphs), 'max-autotune' or 'max-autotune-no-cudagraphs'.
        backend (str): ``torch.compile`` backend. Default: 'inductor'.
        dynamic (bool, optional): ``torch.compile(dynamic=...)``.
        fullgraph (bool): Make graph breaks errors. Default: False.
        options (dict, optional): Inductor options.
        parts (list[str], optional): Children of the task model to compile (default: every
            backbone / neck / head it has).
        compile_eval (bool): Also run validation and testing compiled (only for evaluation
            pipelines of one fixed size). Default: False (evaluation runs eagerly).
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 mode: Optional[str] = None,
                 backend: str = 'inductor',
                 dynamic: Optional[bool] = None,
                 fullgraph: bool = False,
                 options: Optional[dict] = None,
                 parts: Optional[list] = None,
                 compile_eval: bool = False):
        self.settings = parse_compile_setting(
            dict(mode=mode or 'default', backend=backend, dynamic=dynamic, fullgraph=fullgraph,
                 options=options, parts=parts))
        self.compile_eval = compile_eval
        self.compiled = []

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.compiled = compile_forward(model, **self.settings)
        runner.logger.info(f'torch.compile ({self.settings.get("mode", "default")}, backend '
                           f'{self.settings["backend"]}): {", ".join(self.compiled)}')

    def _set_compiled(self, runner, enabled: bool) -> None:
        if not self.compile_eval:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            use_compiled_forward(model, enabled)

    def before_val_epoch(self, runner) -> None:
        self._set_compiled(runner, False)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._set_compiled(runner, True)

    def before_test_epoch(self, runner) -> None:
        self._set_compiled(runner, False)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._set_compiled(runner, True)
