_base_ = './hatnet-tiny_8xb128_in1k.py'

# PVT's medium / large recipe (whai362/PVT classification/configs/pvt/pvt_medium.py):
# drop path 0.3 and gradient clipping at max-norm 1.0, instead of 0.1 and none.
model = dict(backbone=dict(arch='medium', drop_path_rate=0.3), head=dict(in_channels=512))
optim_wrapper = dict(clip_grad=dict(_delete_=True, max_norm=1.0))
