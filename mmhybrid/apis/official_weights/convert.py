# Copyright (c) mmhybrid contributors. All rights reserved.
"""Converting the authors' file with the family's converter, and verifying the result: a strict
load into the model of the entry's config and a forward pass with finite outputs."""
import os.path as osp
import shlex
from typing import Callable, Optional, Sequence, Tuple

from .catalog import FETCH_SCRIPT, OfficialWeights, project_root
from .errors import VerificationError


def _quote(args: Sequence[str]) -> str:
    return ' '.join(shlex.quote(str(a)) for a in args)


def convert_command(entry: OfficialWeights, source: str, dst: str) -> str:
    """The converter command line for ``entry`` (what :func:`convert_official_file` does)."""
    args = ['python', f'tools/model_converters/{entry.converter}', source, dst]
    if entry.allow_pickle:
        args.append('--allow-pickle')
    return _quote(args)


def fetch_command(entry: OfficialWeights, source: Optional[str] = None,
                  dest: str = 'checkpoints') -> str:
    """The fetcher's command line for ``entry`` (with ``--source-file`` when given)."""
    args = ['python', FETCH_SCRIPT, entry.name]
    if dest != 'checkpoints':
        args += ['--dest', dest]
    if source:
        args += ['--source-file', source]
    return _quote(args)


def convert_official_file(entry: OfficialWeights, source: str, dst: str,
                          allow_pickle: bool = False,
                          log: Callable[[str], None] = print) -> dict:
    """Convert the authors' file with the family's converter (:mod:`mmhybrid.converters`).

    ``dst`` must not exist (the converters refuse to overwrite). Returns what the converter
    wrote (``{'meta', 'state_dict'}``).

    Raises:
        VerificationError: the converter found another variant than ``entry.arch``.
    """
    from mmhybrid.converters import CONVERTERS
    convert_file = CONVERTERS[entry.converter[:-len('2mmhybrid.py')]]
    result = convert_file(source, dst, allow_pickle=entry.allow_pickle or allow_pickle, log=log)
    arch = (result or {}).get('meta', {}).get('arch') if isinstance(result, dict) else None
    if arch is not None and arch != entry.arch:
        raise VerificationError(f'{source} holds the {arch!r} variant, but {entry.name} is '
                                f'{entry.arch!r}: wrong file for this name.')
    return result


def _flatten(outputs) -> list:
    import torch
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in _flatten(item)]
    return []


def verify_converted(entry: OfficialWeights, path: str, root: Optional[str] = None,
                     shape: Optional[Sequence[int]] = None) -> Tuple[int, ...]:
    """Load ``path`` strictly into the model ``entry.config`` builds and run it once.

    Args:
        shape: ``(H, W)`` of the random input; default: the config's own input size.

    Returns:
        tuple: the shape of the first output.

    Raises:
        VerificationError: keys or shapes do not match, or an output is not finite.
    """
    import torch

    from mmhybrid.tasks import build_task_model
    root = root or project_root()
    config = osp.join(root, entry.config)
    try:
        task = build_task_model(config, checkpoint=path, shape=shape)
    except (RuntimeError, KeyError) as exc:
        raise VerificationError(f'{path} does not load strictly into the model of '
                                f'{entry.config}: {exc}') from None
    with torch.no_grad():
        outputs = _flatten(task.module(task.make_inputs()))
    if not outputs:
        raise VerificationError(f'The model of {entry.config} returned no tensor.')
    bad = [tuple(t.shape) for t in outputs if not torch.isfinite(t).all()]
    if bad:
        raise VerificationError(f'{path} loaded into {entry.config}, but the forward pass gave '
                                f'non-finite values (outputs of shape {bad}).')
    return tuple(outputs[0].shape)

