# Copyright (c) mmhybrid contributors. All rights reserved.
"""What the tools' argument parsers need from the library, importable without torch.

Every tool parses its arguments before it imports torch, OpenMMLab or mmhybrid (whose
``__init__`` imports torch), so that ``--help`` and usage errors answer in a fraction of a second
(checked by tests/test_tools/test_help_is_light.py). A tool in a sub-folder of ``tools/`` finds
this module through ``sys.path.append(<tools>)``; it is no tool itself (the leading underscore).

The constants repeat the library's (choices and defaults shown by ``--help``); the same test
checks that they still agree.
"""
import argparse

#: ``mmhybrid.utils.compile.COMPILE_MODES``
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')
#: ``mmhybrid.deploy.MODES``: the paths compared by default
COMPARE_MODES = ('eager', 'fused', 'onnxruntime')
#: ``mmhybrid.deploy.data.SPLITS``
SPLITS = ('train', 'val', 'test')
#: ``mmhybrid.deploy.quantize.DEFAULT_OP_TYPES``
QUANTIZE_OP_TYPES = ('Conv', 'MatMul', 'Gemm', 'Relu', 'Clip', 'Add', 'Mul', 'Concat', 'Resize',
                     'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Sigmoid')
#: ``sorted(mmhybrid.tasks.BASELINE_CONFIGS)``
BASELINE_NAMES = ('DeepLabV3+ MobileNetV2 (seg)', 'FPN ResNet-50 (seg)',
                  'LR-ASPP MobileNetV3-Large (seg)', 'MobileNetV2', 'MobileNetV3-Large',
                  'MobileNetV3-Small', 'ResNet-50')
#: ``sorted(mmhybrid.models.backbones.TRTViT.arch_settings)``
TRT_VIT_ARCHS = ('a', 'b', 'c', 'd')
#: ``sorted(mmhybrid.testing.tiny_datasets.DATASET_MAKERS)``
TINY_DATASETS = ('ade20k', 'cityscapes', 'coco', 'coco_stuff10k', 'coco_stuff164k', 'imagenet',
                 'pascal_context')
#: ``mmhybrid.deploy.export.DEFAULT_RTOL``
ONNX_RTOL = 1e-4


class ConfigOptionsAction(argparse.Action):
    """:class:`mmhybrid.utils.cli.ConfigOptionsAction` (``--cfg-options KEY=VALUE ...``), imported
    only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmhybrid.utils.cli import ConfigOptionsAction as Action
        action = Action(self.option_strings, self.dest, nargs=self.nargs, help=self.help)
        action(parser, namespace, values, option_string)
