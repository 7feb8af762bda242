# Copyright (c) mmhybrid contributors. All rights reserved.
"""Data checks that name the bad file or folder and what is wrong with it.

* :func:`check_dataset` decodes every sample of a config's datasets and returns a
  :class:`DatasetReport` (``tools/misc/check_dataset.py`` is its command line);
* :func:`check_dataset_folders` cheaply checks the folders a config's dataloaders read;
* :func:`wrap_pipelines_with_error_reports` wraps a config's pipelines in
  :class:`ReportDataErrors`, so a bad sample met during a run raises :class:`DatasetError`
  naming its files (and, for segmentation, out-of-range label values).

Importing this package registers ``mmhybrid.ReportDataErrors`` and imports neither mmseg,
mmdet nor mmpretrain.
"""
from .checks import (
    DatasetReport,
    check_dataset,
    check_dataset_folders,
    find_folder_problems,
    iter_leaf_dataset_cfgs,
    segmentation_label_spec,
)
from .errors import DataProblem, DatasetError
from .files import inspect_image_file
from .transforms import TRANSFORMS, ReportDataErrors, wrap_pipelines_with_error_reports

__all__ = [
    'DataProblem', 'DatasetError', 'DatasetReport', 'ReportDataErrors', 'TRANSFORMS',
    'check_dataset', 'check_dataset_folders', 'find_folder_problems', 'inspect_image_file',
    'iter_leaf_dataset_cfgs', 'segmentation_label_spec', 'wrap_pipelines_with_error_reports'
]
