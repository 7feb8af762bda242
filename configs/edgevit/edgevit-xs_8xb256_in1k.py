_base_ = './edgevit-xxs_8xb256_in1k.py'

model = dict(backbone=dict(arch='xs'), head=dict(in_channels=384))
