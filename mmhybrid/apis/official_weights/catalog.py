# Copyright (c) mmhybrid contributors. All rights reserved.
"""Which checkpoints the authors released, where they are, and what a user's NAME means.

:func:`load_official_weights` reads each release's URL, authors' repository, config and figure
from the metafiles (the one place the URLs are written) and adds what they do not say (the
converted file's name, the variant, the converter, other hosts);
:data:`NO_RELEASED_WEIGHTS` lists the models without weights.
"""
import difflib
import functools
import os
import os.path as osp
from dataclasses import dataclass, replace
from typing import Dict, List, Mapping, Optional, Tuple, Union

from .errors import OfficialWeightsError, UnknownWeightsName

#: Environment variable: a base URL that replaces every authors' URL by ``<base>/<file name>``
#: (a local mirror, or the loopback server of the tests); browser-only entries become
#: downloadable from it.
MIRROR_ENV = 'MMHYBRID_OFFICIAL_WEIGHTS_MIRROR'
#: How users run the fetcher (printed in messages).
FETCH_SCRIPT = 'tools/model_converters/fetch_official.py'

#: Hosts that need a browser (confirmation pages): never scraped.
BROWSER_HOSTS = ('drive.google.com', 'pan.baidu.com')
TOPFORMER_IMAGENET_BAIDU = 'https://pan.baidu.com/s/1YdrU-5Z_EtL2LiSQycRO3w'
BAIDU_PASSWORD_NOTE = 'Baidu Pan password: topf'


@dataclass(frozen=True)
class OfficialWeights:
    """A checkpoint the authors released, and what mmhybrid makes of it.

    Attributes:
        name: the metafile model name of the config that uses it (what users type).
        family: ``'topformer'``, ``'transcnn'`` or ``'hatnet'``.
        config: the config (relative to the project root) whose model the converted file must
            load into strictly (the metafile's ``Config``).
        output: the converted file's name under ``dest``, the one the configs expect.
        arch: the variant the converter must find in the weights (``'tiny'``, ...).
        url: where the authors host the file (their README's link): the metafile's
            ``Converted From: Weights``, the one place it is written.
        source_name: the authors' file name; a browser download saved as ``<dest>/<source_name>``
            is picked up without ``source_file``.
        converter: the script under ``tools/model_converters/`` (its command line);
            :data:`mmhybrid.converters.CONVERTERS` holds its code under the name before
            ``2mmhybrid.py``.
        browser_only: the host needs a browser (Google Drive folders and confirmation pages,
            Baidu Pan: :data:`BROWSER_HOSTS`); never scraped.
        sha256: the published checksum, if any (none of these authors publish one).
        alternatives: other places the authors host the same file.
        allow_pickle: the file pickles more than tensors (timm's ``args`` namespace), so the
            converter needs ``--allow-pickle``.
        metric: the authors' figure for the file, for ``--list`` (from the metafile's
            ``Results``).
        code: the authors' repository (the metafile's ``Converted From: Code``).
    """
    name: str
    family: str
    config: str
    output: str
    arch: str
    url: str
    source_name: str
    converter: str
    browser_only: bool = False
    sha256: Optional[str] = None
    alternatives: Tuple[str, ...] = ()
    allow_pickle: bool = False
    metric: str = ''
    code: str = ''


@dataclass(frozen=True)
class NoReleasedWeights:
    """A model whose authors released no weights: only training makes them."""
    name: str
    family: str
    config: str
    reason: str

    @property
    def gpus(self) -> int:
        """The GPU count of the recipe, from the config name (``..._8xb256_in1k.py`` -> 8)."""
        from mmhybrid.analysis.recipe import gpus_from_name
        return gpus_from_name(self.config) or 1

    @property
    def train_command(self) -> str:
        """The pretraining command of the recipe: ``gpus`` processes on one machine (what
        ``bash tools/dist_train.sh CONFIG GPUS`` runs), so the total batch is the config's."""
        return (f'python -m torch.distributed.run --nproc_per_node={self.gpus} tools/train.py '
                f'{self.config} --launcher pytorch')

    @property
    def work_dir_checkpoint(self) -> str:
        """Where ``tools/train.py`` leaves the last epoch (what the downstream configs read)."""
        stem = osp.splitext(osp.basename(self.config))[0]
        return f'work_dirs/{stem}/epoch_300.pth'


@dataclass(frozen=True)
class _Release:
    """What only this module knows of a released checkpoint; the metafile entry of ``name``
    gives the rest (URL, authors' repository, config, figure)."""
    name: str
    family: str
    output: str
    arch: str
    converter: str
    source_name: Optional[str] = None  # None: the last part of the URL
    alternatives: Tuple[str, ...] = ()
    allow_pickle: bool = False


def _releases() -> List[_Release]:
    """The authors' READMEs: hustvl/TopFormer (README "Main results": a Google Drive folder /
    Baidu Pan for ImageNet, one Google Drive / Baidu Pan file per ADE20K model),
    yun-liu/TransCNN (release v1.0, README before the repository became yun-liu/HAT-Net) and
    yun-liu/HAT-Net (release v2.0). The URLs are the metafiles' ``Converted From``."""
    releases = [
        _Release(f'topformer-{size.lower()}_8xb128_in1k', 'topformer',
                 f'topformer-{size.lower()}_3rdparty_in1k.pth', arch, 'topformer2mmhybrid.py',
                 source_name=f'topformer-{size}-224-{top1}.pth',
                 alternatives=(f'{TOPFORMER_IMAGENET_BAIDU} ({BAIDU_PASSWORD_NOTE})', ),
                 allow_pickle=True)
        for size, arch, top1 in (('T', 'tiny', '66.2'), ('S', 'small', '72.3'),
                                 ('B', 'base', '75.3'))
    ]
    ade20k = [  # name, output, arch, crop, schedule, mIoU (the file name), Baidu Pan id
        ('topformer-t_8xb2-160k_ade20k-448x448', 'topformer-t_3rdparty_ade20k-448x448.pth',
         'tiny', 448, '2x8', '32.5', '1_Mvi1hyXXfBB4udkJlAiDA'),
        ('topformer-t_8xb4-160k_ade20k-448x448', 'topformer-t_8xb4_3rdparty_ade20k-448x448.pth',
         'tiny', 448, '4x8', '33.4', '1XU43DLbEDfer8ppA9B0GxQ'),
        ('topformer_t_ade20k', 'topformer-t_3rdparty_ade20k.pth', 'tiny', 512, '2x8', '33.6',
         '1-ElpFVrr1djpefKZlAb8GQ'),
        ('topformer-t_8xb4-160k_ade20k-512x512', 'topformer-t_8xb4_3rdparty_ade20k.pth', 'tiny',
         512, '4x8', '34.6', '1QvhPenH1Jw4m2qB7dA-ppg'),
        ('topformer_s_ade20k', 'topformer-s_3rdparty_ade20k.pth', 'small', 512, '2x8', '36.5',
         '1_lcmIShHX3q2IPvrQExfXg'),
        ('topformer-s_8xb4-160k_ade20k-512x512', 'topformer-s_8xb4_3rdparty_ade20k.pth',
         'small', 512, '4x8', '37.0', '1zSzJWl_044P-hYCfCJRUIA'),
        ('topformer_b_ade20k', 'topformer-b_3rdparty_ade20k.pth', 'base', 512, '2x8', '38.3',
         '1M0AVFE0NABsuWbgqRPVqNQ'),
        ('topformer-b_8xb4-160k_ade20k-512x512', 'topformer-b_8xb4_3rdparty_ade20k.pth', 'base',
         512, '4x8', '39.2', '11VQWW_qTKIyjRqyNwn9lVg'),
    ]
    for name, output, arch, crop, schedule, miou, baidu_id in ade20k:
        releases.append(_Release(
            name, 'topformer', output, arch, 'topformer2mmhybrid.py',
            source_name=f'TopFormer-{arch[0].upper()}_{crop}x{crop}_{schedule}_160k-{miou}.pth',
            alternatives=(f'https://pan.baidu.com/s/{baidu_id} ({BAIDU_PASSWORD_NOTE})', )))
    google_ids = dict(  # the Google Drive copies of the GitHub release files
        transcnn=dict(tiny='1OwazUhr8awul-D07U-RQ-7Zl2o6Ki-zJ',
                      small='1XLzseiHvaZKiMJ6Ec4BdmLW-gmb5cuq5',
                      medium='1OMuNIKDqISlxZcxvbuZerUc-ix_LYYUr',
                      large='12nRHmZqj3EVDuJA3Iq9E0vRP7ocaI7k3'),
        hatnet=dict(tiny='1iuhOCEMhEqJlCJKk--Qk1w6TcxP_Plgf',
                    small='1lfVT_nCndVAPikAivigl72Ne5XKjfkCp',
                    medium='1fWITg1Cfm0qDaYw7xhfF8pXdbhK5ctHY',
                    large='1MPNd86S_BvtPDrH_h39vjjvN12opsMki'))
    for family, ids in google_ids.items():
        for arch, google_id in ids.items():
            releases.append(_Release(
                f'{family}-{arch}_8xb128_in1k', family, f'{family}-{arch}_3rdparty_in1k.pth',
                arch, 'hatnet2mmhybrid.py',
                alternatives=(f'https://drive.google.com/file/d/{google_id}/view?usp=sharing', )))
    return releases


def _metric(model) -> str:
    """The figure of a metafile model for ``--list``: ``'top-1 66.2'`` or ``'mIoU 33.6'``."""
    for key, label in (('Top 1 Accuracy', 'top-1'), ('mIoU', 'mIoU')):
        value = model.metric(key)
        if value is not None:
            return f'{label} {value}'
    return ''


def load_official_weights(index_path: Optional[str] = None) -> Dict[str, OfficialWeights]:
    """Every released checkpoint, by metafile model name, its URL, authors' repository, config
    and figure read from the metafiles (:func:`mmhybrid.apis.model_index.load_models`; default:
    the project's ``model-index.yml``).

    Raises:
        OfficialWeightsError: a release has no metafile model, or its model no
            ``Converted From: Weights``.
    """
    from ..model_index import load_models
    _, models = load_models(index_path)
    by_name = {model.name: model for model in models}
    catalog = {}
    for release in _releases():
        model = by_name.get(release.name)
        if model is None:
            raise OfficialWeightsError(f'No metafile model is named {release.name!r}: the '
                                       'authors\' checkpoint has no URL.')
        url = model.converted_from.get('Weights')
        if not url:
            raise OfficialWeightsError(f'{model.metafile}: {release.name} has no "Converted '
                                       'From: Weights", the URL of the authors\' checkpoint.')
        catalog[release.name] = OfficialWeights(
            name=release.name, family=release.family, config=model.config,
            output=release.output, arch=release.arch, url=url,
            source_name=release.source_name or url.split('?', 1)[0].rsplit('/', 1)[-1],
            converter=release.converter,
            browser_only=any(f'//{host}/' in url for host in BROWSER_HOSTS),
            alternatives=release.alternatives, allow_pickle=release.allow_pickle,
            metric=_metric(model), code=model.converted_from.get('Code', ''))
    return catalog


@functools.lru_cache(maxsize=None)
def official_weights() -> Dict[str, OfficialWeights]:
    """:func:`load_official_weights` of the project's metafiles, read once (at first use)."""
    return load_official_weights()


def _build_no_released_weights() -> Dict[str, NoReleasedWeights]:
    edgevit = ('Samsung (saic-fi/edgevit) released code but no weights, and mmhybrid hosts none')
    trt_vit = ('ByteDance released neither code nor weights for TRT-ViT, and mmhybrid hosts none')
    entries = [
        NoReleasedWeights(f'edgevit-{size}_8xb256_in1k', 'edgevit',
                          f'configs/edgevit/edgevit-{size}_8xb256_in1k.py', edgevit)
        for size in ('xxs', 'xs', 's')
    ] + [
        NoReleasedWeights(f'trt-vit-{size}_8xb128_in1k', 'trt_vit',
                          f'configs/trt_vit/trt-vit-{size}_8xb128_in1k.py', trt_vit)
        for size in ('a', 'b', 'c', 'd')
    ]
    return {entry.name: entry for entry in entries}


#: The ImageNet models of the families without released weights, by metafile model name.
NO_RELEASED_WEIGHTS: Dict[str, NoReleasedWeights] = _build_no_released_weights()
#: Family names accepted as NAME for the families without weights.
_FAMILY_ALIASES = {'edgevit': 'edgevit', 'trt-vit': 'trt_vit', 'trt_vit': 'trt_vit',
                   'trtvit': 'trt_vit'}

Catalog = Mapping[str, OfficialWeights]
Entry = Union[OfficialWeights, NoReleasedWeights]


def project_root() -> str:
    """The folder holding ``configs/``: the checkout, or ``mmhybrid/.mim``."""
    package = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhybrid/
    for candidate in (osp.dirname(package), osp.join(package, '.mim')):
        if osp.isdir(osp.join(candidate, 'configs')):
            return candidate
    raise FileNotFoundError(f'Cannot find configs/ beside {package} or in its .mim folder: use '
                            'a checkout or reinstall mmhybrid.')


def default_catalog(mirror: Optional[str] = None) -> Dict[str, OfficialWeights]:
    """:data:`OFFICIAL_WEIGHTS`, with every URL under ``mirror`` (default: :data:`MIRROR_ENV`).

    A mirror serves the authors' files under their own names (``source_name``); browser-only
    entries become downloadable from it.
    """
    mirror = os.environ.get(MIRROR_ENV) if mirror is None else mirror
    if not mirror:
        return dict(official_weights())
    base = mirror.rstrip('/')
    return {name: replace(entry, url=f'{base}/{entry.source_name}', browser_only=False)
            for name, entry in official_weights().items()}


def resolve_name(name: str, catalog: Optional[Catalog] = None) -> List[Entry]:
    """The entries a user's NAME means: a metafile model name, a converted file name
    (``topformer-t_3rdparty_in1k.pth``) or, for the families without weights, the family.

    Raises:
        UnknownWeightsName: with the closest known names.
    """
    catalog = default_catalog() if catalog is None else catalog
    key = name.strip()
    if key in catalog:
        return [catalog[key]]
    if key in NO_RELEASED_WEIGHTS:
        return [NO_RELEASED_WEIGHTS[key]]
    by_output = [entry for entry in catalog.values() if entry.output == osp.basename(key)]
    if by_output:
        return by_output
    family = _FAMILY_ALIASES.get(key.lower())
    if family:
        return [entry for entry in NO_RELEASED_WEIGHTS.values() if entry.family == family]
    known = list(catalog) + list(NO_RELEASED_WEIGHTS) + [e.output for e in catalog.values()]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f' Did you mean {", ".join(close)}?' if close else ''
    raise UnknownWeightsName(f'No released checkpoint is known as {name!r}.{hint} '
                             f'`python {FETCH_SCRIPT} --list` prints every name.')


def status_of(entry: Entry) -> str:
    """``'downloadable'``, ``'browser-only'`` or ``'no released weights'``."""
    if isinstance(entry, NoReleasedWeights):
        return 'no released weights'
    return 'browser-only' if entry.browser_only else 'downloadable'


def list_official_weights(dest: str = 'checkpoints',
                          catalog: Optional[Catalog] = None) -> List[Dict[str, str]]:
    """One row per known name: ``name``, ``status``, ``output`` (or what to train),
    ``present`` (``'yes'`` when ``<dest>/<output>`` exists), ``url``, ``metric``."""
    catalog = default_catalog() if catalog is None else catalog
    rows = []
    for entry in catalog.values():
        rows.append(dict(name=entry.name, status=status_of(entry),
                         output=osp.join(dest, entry.output),
                         present='yes' if osp.isfile(osp.join(dest, entry.output)) else 'no',
                         url=entry.url, metric=entry.metric))
    for entry in NO_RELEASED_WEIGHTS.values():
        rows.append(dict(name=entry.name, status=status_of(entry),
                         output=entry.work_dir_checkpoint,
                         present='yes' if osp.isfile(entry.work_dir_checkpoint) else 'no',
                         url='', metric=f'train: {entry.train_command}'))
    return rows

