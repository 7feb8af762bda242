# Copyright (c) mmhybrid contributors. All rights reserved.
"""``tools/train.py`` on broken data: errors name the file or folder, before or during the run.

Today's failures were ``IndexError: Target 199 is out of bounds`` after some iterations, and
``need at least one array to concatenate`` for an empty folder.
"""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image
from smoke import make_smoke_config

from mmhybrid.datasets import DatasetError
from mmhybrid.testing import make_ade20k

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')


@pytest.fixture
def ade_root(tmp_path):
    return make_ade20k(str(tmp_path / 'tiny'), num_train=2, num_val=1)


def smoke_config(tmp_path, ade_root):
    cfg = make_smoke_config(CONFIG, {'ade20k': ade_root}, str(tmp_path / 'work'),
                            with_val=False)
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    return path


def first_file(folder):
    return osp.join(folder, sorted(os.listdir(folder))[0])


@pytest.mark.slow  # builds the runner and starts training (the error comes at the first sample)
def test_label_outside_the_classes_is_named_at_the_first_sample(tmp_path, ade_root,
                                                               load_tool):
    labels = osp.join(ade_root, 'annotations', 'training')
    for name in os.listdir(labels):
        label = np.array(Image.open(osp.join(labels, name)))
        label[0, 0] = 199  # 198 after reduce_zero_label, ADE20K has 150 classes
        Image.fromarray(label).save(osp.join(labels, name))
    with pytest.raises(DatasetError) as error:
        load_tool('train.py').main([smoke_config(tmp_path, ade_root)])
    assert 'annotations/training/' in str(error.value) and '198' in str(error.value)
    assert not osp.exists(tmp_path / 'work' / 'iter_1.pth')


@pytest.mark.slow  # builds the runner and starts training (the error comes at the first sample)
def test_zero_byte_image_is_named(tmp_path, ade_root, load_tool):
    image = first_file(osp.join(ade_root, 'images', 'training'))
    open(image, 'wb').close()
    with pytest.raises(DatasetError, match=osp.basename(image)) as error:
        load_tool('train.py').main([smoke_config(tmp_path, ade_root)])
    assert '0 bytes' in str(error.value) or 'empty' in str(error.value)


def test_empty_image_folder_fails_before_the_runner(tmp_path, ade_root, load_tool):
    folder = osp.join(ade_root, 'images', 'training')
    shutil.rmtree(folder)
    os.makedirs(folder)
    with pytest.raises(DatasetError) as error:
        load_tool('train.py').main([smoke_config(tmp_path, ade_root)])
    assert folder in str(error.value)
    assert not osp.exists(tmp_path / 'work')  # the runner never started


def test_check_data_lists_the_broken_files_first(tmp_path, ade_root, load_tool, capsys):
    label = first_file(osp.join(ade_root, 'annotations', 'training'))
    data = open(label, 'rb').read()
    open(label, 'wb').write(data[:len(data) // 2])
    with pytest.raises(DatasetError, match='--check-data found 1 problem'):
        load_tool('train.py').main([smoke_config(tmp_path, ade_root), '--check-data'])
    assert osp.basename(label) in capsys.readouterr().out
    assert not osp.exists(tmp_path / 'work')


def replace_first_label(ade_root, make_image):
    """Replace the first training label by ``make_image(label array)``; return its path."""
    path = first_file(osp.join(ade_root, 'annotations', 'training'))
    make_image(np.array(Image.open(path))).save(path)
    return path


def sixteen_bit(label):
    wide = label.astype(np.uint16)
    wide[0, 0] = 300  # LoadAnnotations' uint8 cast would train it as class 43 (44 - 1)
    return Image.fromarray(wide)


@pytest.mark.slow  # builds the runner and starts training (the error comes at the first sample)
@pytest.mark.parametrize('make_image,expected', [
    (sixteen_bit, 'values up to 300'),
    (lambda label: Image.fromarray(np.stack([label] * 3, axis=-1)), '3 channels (mode RGB)'),
])
def test_label_files_loadannotations_would_cast_or_misread_are_named(
        tmp_path, ade_root, load_tool, make_image, expected):
    """Before: a 16-bit value above 255 trained as another class; an RGB label map failed deep
    in collation without naming the file."""
    path = replace_first_label(ade_root, make_image)
    with pytest.raises(DatasetError) as error:
        load_tool('train.py').main([smoke_config(tmp_path, ade_root)])
    message = str(error.value)
    assert path in message and expected in message
    assert not osp.exists(tmp_path / 'work' / 'iter_1.pth')
