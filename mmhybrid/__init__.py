# Copyright (c) mmhybrid contributors. All rights reserved.
"""mmhybrid: hybrid CNN-Transformer backbones (EdgeViT, TRT-ViT, TransCNN/HAT-Net, TopFormer)
for MMDetection 3.x, MMSegmentation 1.x and MMPretrain 1.x."""
from .version import __version__, version_info


def _register_model_index() -> None:
    """Let ``mmpretrain.get_model``/``list_models`` find our classification models by name,
    without importing MMPretrain here (see :mod:`mmhybrid.apis.model_index`). Never fails."""
    try:
        from .apis.model_index import register_into_mmpretrain_lazily
        register_into_mmpretrain_lazily()
    except Exception as exc:  # noqa: BLE001 - a broken index must not break `import mmhybrid`
        import warnings
        warnings.warn(f'mmhybrid: models not registered into mmpretrain by name: {exc}')


_register_model_index()

__all__ = ['__version__', 'version_info']
