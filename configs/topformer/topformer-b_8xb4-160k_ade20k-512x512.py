# The authors' 8 GPUs x 4 images variant (batch 32, same learning rate).
_base_ = './topformer_b_ade20k.py'
train_dataloader = dict(batch_size=4)
auto_scale_lr = dict(base_batch_size=32)
