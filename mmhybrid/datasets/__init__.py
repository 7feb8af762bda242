# Copyright (c) mmhybrid contributors. All rights reserved.
"""Data checks that name the bad file or folder and what is wrong with it.

Without these checks a bad sample surfaces deep inside the training as an error that names
neither the file nor what is wrong: a 0-byte image or a truncated label PNG as
``'NoneType' object has no attribute 'squeeze'``, a label value outside the classes as
``IndexError: Target 199 is out of bounds`` after some iterations, an empty image folder as
``need at least one array to concatenate``.

* :func:`check_dataset` decodes every sample of a config's datasets and returns a
  :class:`DatasetReport` (``tools/misc/check_dataset.py`` is its command line);
* :func:`check_dataset_folders` cheaply checks the folders a config's dataloaders read;
* :func:`wrap_pipelines_with_error_reports` wraps a config's pipelines in
  :class:`ReportDataErrors`, so a bad sample met during a run raises :class:`DatasetError`
  naming its files (and, for segmentation, out-of-range label values).

Importing this package registers ``mmhybrid.ReportDataErrors`` and imports neither mmseg,
mmdet nor mmpretrain.
"""
from .dataset_cfgs import iter_leaf_dataset_cfgs, segmentation_label_spec
from .errors import DataProblem, DatasetError
from .files import inspect_image_file
from .folder_checks import check_dataset_folders, find_folder_problems
from .sample_checks import DatasetReport, check_dataset
from .transforms import TRANSFORMS, ReportDataErrors, wrap_pipelines_with_error_reports

__all__ = [
    'DataProblem', 'DatasetError', 'DatasetReport', 'ReportDataErrors', 'TRANSFORMS',
    'check_dataset', 'check_dataset_folders', 'find_folder_problems', 'inspect_image_file',
    'iter_leaf_dataset_cfgs', 'segmentation_label_spec', 'wrap_pipelines_with_error_reports'
]
