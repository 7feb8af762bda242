# PVT's RetinaNet / Mask R-CNN 1x recipe, which the EdgeViT and HAT-Net / TransCNN detection
# configs and the TopFormer / TRT-ViT RetinaNet configs follow: mmdet's 12-epoch schedule
# (500-iteration warm-up, steps at epochs 8 and 11) with AdamW lr 1e-4, weight decay 1e-4 instead
# of SGD; 8 GPUs x 2 images.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))
