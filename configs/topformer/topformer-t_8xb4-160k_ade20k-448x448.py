# TopFormer-Tiny* at 448x448, the authors' 8 GPUs x 4 images variant (batch 32, same learning
# rate; hustvl/TopFormer README row TopFormer-T_448x448_4x8_160k: 33.4 mIoU).
_base_ = './topformer-t_8xb2-160k_ade20k-448x448.py'
train_dataloader = dict(batch_size=4)
auto_scale_lr = dict(base_batch_size=32)
