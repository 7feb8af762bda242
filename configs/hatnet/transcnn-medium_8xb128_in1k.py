_base_ = './transcnn-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='medium', drop_path_rate=0.1), head=dict(in_channels=640))
