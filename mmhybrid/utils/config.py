# Copyright (c) mmhybrid contributors. All rights reserved.
"""Rewrites of config trees shared by the tools, the analysis helpers and the tests."""
import contextlib
from typing import Any, Iterator, List

#: Normalisation types that need a process group; on one CPU (or GPU) they become ``'BN'``.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'NaiveSyncBN', 'TorchSyncBN')


def replace_sync_bn(node: Any) -> int:
    """Rewrite every SyncBN variant in a config tree to ``type='BN'``, in place.

    ``node`` is a ``Config``, a (Config)dict, a list or tuple nesting those, or anything else
    (left alone). A type with a scope prefix (``'mmseg.SyncBN'``) is rewritten too; a type given
    as a class is kept.

    Args:
        node: the config (sub)tree, e.g. ``cfg.model``.

    Returns:
        int: how many ``type`` entries were rewritten.

    Example:
        >>> cfg = dict(backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
        ...            decode_head=dict(norm_cfg=dict(type='mmseg.SyncBN')))
        >>> replace_sync_bn(cfg), cfg['backbone']['norm_cfg']['type']
        (2, 'BN')
    """
    node = getattr(node, '_cfg_dict', node)  # mmengine Config -> its ConfigDict
    count = 0
    if isinstance(node, dict):
        type_ = node.get('type')
        if isinstance(type_, str) and type_.rsplit('.', 1)[-1] in SYNC_BN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_sync_bn(value)
    return count


def evaluator_metrics(evaluator: Any) -> List[dict]:
    """The metric configs of a ``val_evaluator``/``test_evaluator`` value: one metric dict, a
    list of them, or an ``Evaluator`` dict holding ``metrics``."""
    if isinstance(evaluator, dict) and 'metrics' in evaluator and 'type' not in evaluator:
        evaluator = evaluator['metrics']
    if isinstance(evaluator, (list, tuple)):
        return [metric for metric in evaluator if isinstance(metric, dict)]
    return [evaluator] if isinstance(evaluator, dict) else []


@contextlib.contextmanager
def interrupts_stay_interrupts() -> Iterator[None]:
    """Let a Ctrl-C inside the block end the program as a ``KeyboardInterrupt``.

    MMEngine formats the config with yapf (``Config.pretty_text``) when the runner starts and
    into every checkpoint, under a bare ``except:`` that turns an interrupt arriving there into
    ``SyntaxError: Failed to format the config file`` followed by the whole config. The
    interrupt is raised again instead; every other error passes unchanged.

    Example:
        >>> try:
        ...     with interrupts_stay_interrupts():
        ...         try:
        ...             raise KeyboardInterrupt
        ...         except BaseException:
        ...             raise SyntaxError('Failed to format the config file')
        ... except KeyboardInterrupt:
        ...     print('interrupted')
        interrupted
    """
    try:
        yield
    except SyntaxError as error:
        if isinstance(error.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
