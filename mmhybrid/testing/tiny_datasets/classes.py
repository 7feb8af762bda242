# Copyright (c) mmhybrid contributors. All rights reserved.
"""The classes each tiny dataset shows, with their ids in the real benchmarks' label sets."""

#: Present classes of each tiny dataset, as ``(background, objects)`` where each entry is
#: ``(class index in the stock dataset's METAINFO['classes'], class name)``. The background
#: class (``None`` for datasets without one) fills every pixel not covered by an object or by an
#: ignored blob; object ``i`` is drawn with look ``i`` (shape, colour, texture).
TINY_DATASET_CLASSES = {
    'ade20k': ((0, 'wall'), [(12, 'person'), (20, 'car'), (4, 'tree'), (19, 'chair'),
                             (15, 'table')]),
    'cityscapes': ((0, 'road'), [(11, 'person'), (13, 'car'), (7, 'traffic sign'),
                                 (8, 'vegetation'), (15, 'bus')]),
    'pascal_context': ((56, 'wall'), [(37, 'person'), (14, 'car'), (23, 'dog'), (17, 'chair'),
                                      (10, 'bottle')]),
    'coco_stuff': ((112, 'grass'), [(0, 'person'), (2, 'car'), (16, 'dog'), (56, 'chair'),
                                    (39, 'bottle')]),
    'coco': (None, [(0, 'person'), (2, 'car'), (16, 'dog'), (56, 'chair'), (39, 'bottle')]),
    'imagenet': (None, [(0, 'tench, Tinca tinca'), (1, 'goldfish, Carassius auratus'),
                        (2, 'great white shark, white shark, man-eater, man-eating shark, '
                            'Carcharodon carcharias'),
                        (3, 'tiger shark, Galeocerdo cuvieri'),
                        (4, 'hammerhead, hammerhead shark'),
                        (5, 'electric ray, crampfish, numbfish, torpedo')]),
}

#: WordNet ids of ImageNet-1k classes 0-5 (the folder names of the real training set).
_IMAGENET_WNIDS = ('n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475',
                   'n01496331')

#: The 80 COCO categories with their real (non-contiguous) ids, in mmdet's class order.
COCO_CATEGORIES = tuple(
    dict(id=cid, name=name, supercategory=sup) for cid, name, sup in [
        (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
        (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
        (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
        (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'),
        (13, 'stop sign', 'outdoor'), (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'),
        (16, 'bird', 'animal'), (17, 'cat', 'animal'), (18, 'dog', 'animal'),
        (19, 'horse', 'animal'), (20, 'sheep', 'animal'), (21, 'cow', 'animal'),
        (22, 'elephant', 'animal'), (23, 'bear', 'animal'), (24, 'zebra', 'animal'),
        (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
        (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'), (33, 'suitcase', 'accessory'),
        (34, 'frisbee', 'sports'), (35, 'skis', 'sports'), (36, 'snowboard', 'sports'),
        (37, 'sports ball', 'sports'), (38, 'kite', 'sports'), (39, 'baseball bat', 'sports'),
        (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
        (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
        (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'),
        (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
        (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
        (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
        (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'),
        (61, 'cake', 'food'), (62, 'chair', 'furniture'), (63, 'couch', 'furniture'),
        (64, 'potted plant', 'furniture'), (65, 'bed', 'furniture'),
        (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'),
        (72, 'tv', 'electronic'), (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
        (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'),
        (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'),
        (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'), (81, 'sink', 'appliance'),
        (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'), (85, 'clock', 'indoor'),
        (86, 'vase', 'indoor'), (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'),
        (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor')
    ])

