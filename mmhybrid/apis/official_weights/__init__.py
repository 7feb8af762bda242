# Copyright (c) mmhybrid contributors. All rights reserved.
"""The authors' released checkpoints: where they are, and fetch -> check -> convert -> verify.

:data:`OFFICIAL_WEIGHTS` lists every checkpoint the authors of the re-implemented papers released
(TopFormer ImageNet and ADE20K, TransCNN and HAT-Net ImageNet), keyed by the metafile model name
of the config that uses it, and :data:`NO_RELEASED_WEIGHTS` the models without any (EdgeViT,
TRT-ViT). The metafiles are the one place the authors' URLs are written (``Converted From``):
:data:`OFFICIAL_WEIGHTS` reads them, with each model's config and figure, at first use
(:func:`load_official_weights`); this module adds what the metafiles do not say (the converted
file's name, the variant, the converter, other hosts). :func:`fetch_official_weights` turns a
name into the converted file that the configs expect (``checkpoints/topformer-t_3rdparty_in1k.pth``,
...):

1. download the authors' file to ``<dest>/.<name>.download``, resuming a partial file with an
   HTTP ``Range`` request (several attempts, a progress bar when stderr is a terminal);
2. check its sha256 where one is published (none of these authors publish one, so the digest of
   what was downloaded is printed instead), then rename it to ``<dest>/<authors' file name>``
   (a failed conversion is retried from there without downloading again; removed after
   success unless ``keep_download``);
3. convert it with the family's converter (:mod:`mmhybrid.converters`, the code of
   ``tools/model_converters/*2mmhybrid.py``);
4. load the result with ``strict=True`` into the model that the entry's config builds and run a
   forward pass whose outputs must be finite;
5. move it to its final name atomically; an existing file is only replaced with ``force``.

Files hosted where a browser is needed (Google Drive, Baidu Pan: TopFormer) are never scraped:
:class:`BrowserDownloadRequired` gives the URL, where to save the file and the command that
converts it (the same call with ``source_file``, or a file saved under its suggested name in
``dest`` is picked up by itself).

Everything here raises exceptions (subclasses of :class:`OfficialWeightsError`, or ``OSError``,
``ValueError``, ``RuntimeError`` from the converters); ``tools/model_converters/fetch_official.py``
prints them as ``error: <message>``. Tests point the URLs at a loopback server with the
``catalog`` argument or the :data:`MIRROR_ENV` environment variable.

The package belongs to :mod:`mmhybrid.apis`, above the models: verifying a converted file builds
the model of its config (:func:`mmhybrid.tasks.build_task_model`). Its modules, one step each:
:mod:`.catalog` (the releases, names and statuses), :mod:`.download` (resuming downloads and
sha256), :mod:`.convert` (the converter and the strict verification), :mod:`.fetch` (the whole
path, and what the command line runs); :mod:`.errors` holds the exceptions.
"""
from .catalog import (
    BROWSER_HOSTS,
    FETCH_SCRIPT,
    MIRROR_ENV,
    NO_RELEASED_WEIGHTS,
    NoReleasedWeights,
    OfficialWeights,
    default_catalog,
    list_official_weights,
    load_official_weights,
    official_weights,
    project_root,
    resolve_name,
    status_of,
)
from .convert import convert_command, convert_official_file, fetch_command, verify_converted
from .download import download_file, sha256sum
from .errors import (
    BrowserDownloadRequired,
    ChecksumMismatch,
    DownloadError,
    NoWeightsReleased,
    OfficialWeightsError,
    UnknownWeightsName,
    VerificationError,
)
from .fetch import fetch_official_weights, print_official_weights_list, run_fetch_official

__all__ = [
    'OfficialWeights', 'NoReleasedWeights', 'OFFICIAL_WEIGHTS', 'NO_RELEASED_WEIGHTS',  # noqa: F822
    'MIRROR_ENV', 'OfficialWeightsError', 'UnknownWeightsName', 'NoWeightsReleased',
    'BrowserDownloadRequired', 'DownloadError', 'ChecksumMismatch', 'VerificationError',
    'project_root', 'default_catalog', 'resolve_name', 'status_of', 'list_official_weights',
    'download_file', 'sha256sum', 'convert_command', 'fetch_command', 'convert_official_file',
    'verify_converted', 'fetch_official_weights', 'FETCH_SCRIPT', 'BROWSER_HOSTS',
    'load_official_weights', 'official_weights', 'print_official_weights_list',
    'run_fetch_official'
]


def __getattr__(name: str):
    """``OFFICIAL_WEIGHTS``: every checkpoint the authors released, by metafile model name
    (:func:`official_weights`; read from the metafiles at first use, not at import)."""
    if name == 'OFFICIAL_WEIGHTS':
        return official_weights()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
