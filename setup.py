# Copyright (c) mmhybrid contributors. All rights reserved.
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ['configs', 'tools', 'model-index.yml']


def readme():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version():
    namespace = {}
    with open(osp.join(ROOT, 'mmhybrid', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def parse_requirements(fname):
    """Read a requirements file, skipping comments and blank lines."""
    with open(osp.join(ROOT, 'requirements', fname), encoding='utf-8') as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip() and not line.startswith('-')
        ]


def add_mim_extension():
    """Populate ``mmhybrid/.mim`` with configs, tools and model-index.yml for ``mim``.

    OpenMMLab's stock version only symlinks for ``setup.py develop``. Modern ``pip install -e .``
    (PEP 660) runs ``editable_wheel`` instead, which left editable installs without ``.mim`` and
    broke ``mim train mmhybrid``. Editable installs get symlinks, wheels and sdists get copies.
    """
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install', 'build')):
        mode = 'copy'
    else:
        return

    mim_path = osp.join(ROOT, 'mmhybrid', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(ROOT, name)
        dst = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        if mode == 'symlink' and not osp.exists(dst):
            warnings.warn(f'failed to create the mim link {dst}')


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmhybrid',
        version=get_version(),
        description='Hybrid CNN-Transformer backbones (EdgeViT, TRT-ViT, TransCNN/HAT-Net, '
        'TopFormer) for OpenMMLab 2.x',
        long_description=readme(),
        long_description_content_type='text/markdown',
        author='mmhybrid contributors',
        keywords='computer vision, backbone, vision transformer, segmentation, detection',
        url='https://github.com/mmhybrid/mmhybrid',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'demo')),
        include_package_data=True,
        python_requires='>=3.8',
        classifiers=[
            'License :: OSI Approved :: Apache Software License',
            'Operating System :: OS Independent',
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime.txt'),
        extras_require={
            'mim': parse_requirements('mminstall.txt'),
            'det': parse_requirements('det.txt'),
            'seg': parse_requirements('seg.txt'),
            'cls': parse_requirements('cls.txt'),
            'tests': parse_requirements('tests.txt'),
            'viz': parse_requirements('viz.txt'),
            'all': (parse_requirements('det.txt') + parse_requirements('seg.txt') +
                    parse_requirements('cls.txt')),
        },
        zip_safe=False)
