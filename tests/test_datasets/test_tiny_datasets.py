# Copyright (c) mmhybrid contributors. All rights reserved.
"""The tiny synthetic datasets are read unchanged by the stock dataset classes and learnable."""
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmhybrid.testing import (
    COCO_CATEGORIES,
    TINY_DATASET_CLASSES,
    make_ade20k,
    make_all,
    make_cityscapes,
    make_coco,
    make_coco_stuff10k,
    make_coco_stuff164k,
    make_imagenet,
    make_pascal_context,
)

NUM_TRAIN, NUM_VAL = 6, 3


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    return make_all(str(tmp_path_factory.mktemp('tiny')), num_train=NUM_TRAIN, num_val=NUM_VAL)


def _load_seg(dataset, index):
    """Run the stock loading transforms (instances: no registry scope needed)."""
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets.transforms import LoadAnnotations
    results = dataset[index]
    results = LoadAnnotations()(LoadImageFromFile()(results))
    return results['img'], results['gt_seg_map']


def _seg_dataset(cls, data_root, img, seg, **kwargs):
    return cls(data_root=data_root, data_prefix=dict(img_path=img, seg_map_path=seg),
               pipeline=[], **kwargs)


def _check_seg(dataset, num_images, num_classes, shape, present_classes):
    assert len(dataset) == num_images
    assert len(dataset.metainfo['classes']) == num_classes
    seen = set()
    for i in range(len(dataset)):
        img, seg = _load_seg(dataset, i)
        assert img.shape == shape + (3, )
        assert seg.shape == shape
        values = set(np.unique(seg).tolist())
        assert values <= set(range(num_classes)) | {255}, values
        seen |= values
    assert seen - {255} <= set(present_classes)
    return seen


def _present(name):
    background, objects = TINY_DATASET_CLASSES[name]
    classes = [idx for idx, _ in objects] + ([background[0]] if background else [])
    return classes


def test_class_names_match_stock_metainfo():
    from mmpretrain.datasets import ImageNet
    from mmseg.datasets import (
        ADE20KDataset,
        CityscapesDataset,
        COCOStuffDataset,
        PascalContextDataset,
    )
    stock = dict(
        ade20k=ADE20KDataset, cityscapes=CityscapesDataset,
        pascal_context=PascalContextDataset, coco_stuff=COCOStuffDataset, imagenet=ImageNet)
    for name, cls in stock.items():
        background, objects = TINY_DATASET_CLASSES[name]
        for idx, class_name in objects + ([background] if background else []):
            assert cls.METAINFO['classes'][idx].strip() == class_name, (name, idx)
    from mmdet.datasets import CocoDataset
    assert [c['name'] for c in COCO_CATEGORIES] == list(CocoDataset.METAINFO['classes'])
    assert len({c['id'] for c in COCO_CATEGORIES}) == 80


def test_ade20k(roots):
    from mmseg.datasets import ADE20KDataset
    assert roots['ade20k'].endswith('ADEChallengeData2016')
    for folder, count in (('training', NUM_TRAIN), ('validation', NUM_VAL)):
        dataset = _seg_dataset(ADE20KDataset, roots['ade20k'], f'images/{folder}',
                               f'annotations/{folder}')
        seen = _check_seg(dataset, count, 150, (120, 160), _present('ade20k'))
        assert 0 in seen  # the background class 'wall' (file value 1)


def test_cityscapes(roots):
    from mmseg.datasets import CityscapesDataset
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        dataset = _seg_dataset(CityscapesDataset, roots['cityscapes'], f'leftImg8bit/{split}',
                               f'gtFine/{split}')
        _check_seg(dataset, count, 19, (96, 192), _present('cityscapes'))
    cities = sorted(os.listdir(osp.join(roots['cityscapes'], 'leftImg8bit', 'train')))
    assert cities == ['aachen', 'bochum']


def test_pascal_context_60_and_59(roots):
    from mmseg.datasets import PascalContextDataset, PascalContextDataset59
    kwargs = dict(data_root=roots['pascal_context'],
                  data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                  pipeline=[])
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        ann_file = f'ImageSets/SegmentationContext/{split}.txt'
        ds60 = PascalContextDataset(ann_file=ann_file, **kwargs)
        ds59 = PascalContextDataset59(ann_file=ann_file, **kwargs)
        present = _present('pascal_context') + [0]  # 0 = the "background" class (ignored blobs)
        _check_seg(ds60, count, 60, (120, 160), present)
        _check_seg(ds59, count, 59, (120, 160), [c - 1 for c in present if c])
        for i in range(count):  # the 59-class reading is the 60-class one shifted by one
            _, seg60 = _load_seg(ds60, i)
            _, seg59 = _load_seg(ds59, i)
            np.testing.assert_array_equal(seg59, np.where(seg60 == 0, 255, seg60 - 1))


def test_coco_stuff(roots):
    from mmseg.datasets import COCOStuffDataset
    for folder, count in (('train2014', NUM_TRAIN), ('test2014', NUM_VAL)):
        dataset = _seg_dataset(COCOStuffDataset, roots['coco_stuff10k'], f'images/{folder}',
                               f'annotations/{folder}', reduce_zero_label=True)
        _check_seg(dataset, count, 171, (120, 160), _present('coco_stuff'))
        assert dataset[0]['img_path'].endswith('.jpg')
        assert osp.basename(dataset[0]['img_path']).startswith(f'COCO_{folder}_')
    for folder, count in (('train2017', NUM_TRAIN), ('val2017', NUM_VAL)):
        dataset = _seg_dataset(COCOStuffDataset, roots['coco_stuff164k'], f'images/{folder}',
                               f'annotations/{folder}')
        _check_seg(dataset, count, 171, (120, 160), _present('coco_stuff'))


def test_coco_instances(roots):
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        dataset = CocoDataset(
            data_root=roots['coco'] + '/',
            ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            test_mode=split == 'val',
            pipeline=[])
        assert len(dataset) == count
        assert len(dataset.metainfo['classes']) == 80
        present = {dataset.cat2label[COCO_CATEGORIES[i]['id']]
                   for i, _ in TINY_DATASET_CLASSES['coco'][1]}
        assert present == {0, 2, 16, 56, 39}
        for i in range(count):
            info = dataset[i]
            assert osp.isfile(info['img_path'])
            assert info['instances']
            results = LoadAnnotations(with_bbox=True, with_mask=True)(
                LoadImageFromFile()(dict(info)))
            labels, boxes = results['gt_bboxes_labels'], results['gt_bboxes'].tensor.numpy()
            masks = results['gt_masks'].to_ndarray()
            assert set(labels.tolist()) <= present
            assert masks.shape == (len(labels), 120, 160)
            for box, mask in zip(boxes, masks):
                # the box is the tight box of the polygon: the raster of it (pycocotools)
                # lies inside (up to pixel rounding) and reaches to within 2.5 px (sharp star
                # tips) of every side
                ys, xs = np.nonzero(mask)
                for gap in (xs.min() - box[0], box[2] - xs.max() - 1, ys.min() - box[1],
                            box[3] - ys.max() - 1):
                    assert -1 <= gap <= 2.5
    with open(osp.join(roots['coco'], 'annotations', 'instances_train2017.json')) as f:
        coco = json.load(f)
    ann_ids = [a['id'] for a in coco['annotations']]
    assert len(set(ann_ids)) == len(ann_ids)
    assert all(a['iscrowd'] == 0 and a['area'] > 0 for a in coco['annotations'])
    from pycocotools import mask as mask_utils
    for ann in coco['annotations']:  # 'area' is the polygon's ~ the area of its raster
        rle = mask_utils.merge(mask_utils.frPyObjects(ann['segmentation'], 120, 160))
        assert abs(mask_utils.area(rle) - ann['area']) <= 0.1 * ann['area']


def test_imagenet(roots):
    from mmpretrain.datasets import ImageNet
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        by_split = ImageNet(data_root=roots['imagenet'], split=split, pipeline=[])
        explicit = ImageNet(data_root=roots['imagenet'], data_prefix=split,
                            ann_file=f'meta/{split}.txt', pipeline=[])
        for dataset in (by_split, explicit):
            assert len(dataset) == count
            assert len(dataset.metainfo['classes']) == 1000
            labels = [dataset.get_data_info(i)['gt_label'] for i in range(count)]
            assert set(labels) <= set(range(6))
            assert all(osp.isfile(dataset.get_data_info(i)['img_path']) for i in range(count))
    assert len(set(labels)) == NUM_VAL  # round-robin over the classes


def _tree_digest(root):
    digest = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digest[osp.relpath(path, root)] = hashlib.md5(f.read()).hexdigest()
    return digest


@pytest.mark.parametrize('maker', [
    make_ade20k, make_cityscapes, make_pascal_context, make_coco_stuff10k, make_coco_stuff164k,
    make_coco, make_imagenet
])
def test_deterministic_by_seed(maker, tmp_path):
    first = _tree_digest(maker(str(tmp_path / 'a'), num_train=2, num_val=1, seed=3))
    again = _tree_digest(maker(str(tmp_path / 'b'), num_train=2, num_val=1, seed=3))
    other = _tree_digest(maker(str(tmp_path / 'c'), num_train=2, num_val=1, seed=4))
    assert first == again
    assert first.keys() == other.keys()
    assert first != other


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_train'):
        make_ade20k(str(tmp_path), num_train=0)
    with pytest.raises(ValueError, match='unknown tiny datasets'):
        make_all(str(tmp_path), names=['ade20k', 'voc'])


def _nearest_mean_accuracy(train, val):
    """Classify val samples (colour, label) by the nearest per-class mean colour of train."""
    (x, y), (xv, yv) = train, val
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)
    pred = classes[np.linalg.norm(xv[:, None] - means[None], axis=-1).argmin(1)]
    return gaps[np.triu_indices(len(classes), 1)].min(), (pred == yv).mean()


def test_classes_are_distinguishable_in_segmentation(roots):
    """Per-class mean colours are far apart and classify most val pixels correctly."""

    def pixels(folder):
        images = sorted(os.listdir(osp.join(roots['ade20k'], 'images', folder)))
        x, y = [], []
        for name in images:
            img = np.asarray(Image.open(osp.join(roots['ade20k'], 'images', folder, name)))
            seg = np.asarray(
                Image.open(
                    osp.join(roots['ade20k'], 'annotations', folder, name[:-4] + '.png')))
            keep = seg > 0  # 0 = ignored blobs
            x.append(img[keep].astype(float))
            y.append(seg[keep])
        return np.concatenate(x), np.concatenate(y)

    train, val = pixels('training'), pixels('validation')
    assert len(np.unique(train[1])) >= 5
    min_gap, accuracy = _nearest_mean_accuracy(train, val)
    assert min_gap > 50
    assert accuracy > 0.9


def test_classes_are_distinguishable_in_coco_and_imagenet(roots):
    from pycocotools.coco import COCO

    def coco_objects(split):
        coco = COCO(osp.join(roots['coco'], 'annotations', f'instances_{split}2017.json'))
        x, y = [], []
        for ann in coco.dataset['annotations']:
            info = coco.imgs[ann['image_id']]
            img = np.asarray(Image.open(osp.join(roots['coco'], f'{split}2017',
                                                 info['file_name'])))
            x.append(img[coco.annToMask(ann) > 0].mean(0))
            y.append(ann['category_id'])
        return np.stack(x), np.array(y)

    _, accuracy = _nearest_mean_accuracy(coco_objects('train'), coco_objects('val'))
    assert accuracy == 1.0

    def imagenet_images(split):
        x, y = [], []
        with open(osp.join(roots['imagenet'], 'meta', f'{split}.txt')) as f:
            for line in f:
                rel, label = line.split()
                img = np.asarray(Image.open(osp.join(roots['imagenet'], split, rel))).astype(
                    float).reshape(-1, 3)
                saturated = img.max(1) - img.min(1) > 80  # the object, not the dull background
                x.append(img[saturated].mean(0))
                y.append(int(label))
        return np.stack(x), np.array(y)

    _, accuracy = _nearest_mean_accuracy(imagenet_images('train'), imagenet_images('val'))
    assert accuracy == 1.0
