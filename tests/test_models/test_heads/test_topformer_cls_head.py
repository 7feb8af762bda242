# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
from mmengine.registry import init_default_scope

pytest.importorskip('mmpretrain')
from helpers import randomize_batchnorm_stats  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

from mmhybrid.models import TopFormerClsHead  # noqa: E402


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    init_default_scope('mmpretrain')


def test_forward_is_bn_then_linear():
    head = TopFormerClsHead(num_classes=10, in_channels=8).eval()
    randomize_batchnorm_stats(head)
    feat = torch.rand(3, 8)
    torch.testing.assert_close(head((feat, )), head.l(head.bn(feat)))
    assert set(head.state_dict()) == {'bn.weight', 'bn.bias', 'bn.running_mean',
                                      'bn.running_var', 'bn.num_batches_tracked', 'l.weight',
                                      'l.bias'}


def test_rejects_unpooled_features_and_bad_classes():
    head = TopFormerClsHead(num_classes=10, in_channels=8)
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head((torch.rand(2, 8, 4, 4), ))
    with pytest.raises(ValueError, match='positive'):
        TopFormerClsHead(num_classes=0, in_channels=8)


def test_loss_and_predict():
    head = TopFormerClsHead(num_classes=4, in_channels=8, dropout_rate=0.2, cal_acc=True)
    samples = [DataSample().set_gt_label(i % 4) for i in range(4)]
    losses = head.loss((torch.rand(4, 8), ), samples)
    assert losses['loss'].item() > 0 and 'accuracy_top-1' in losses
    preds = head.predict((torch.rand(4, 8), ))
    assert len(preds) == 4 and preds[0].pred_score.shape == (4, )


def test_reparameterize_folds_bn_into_linear():
    head = TopFormerClsHead(num_classes=6, in_channels=8, dropout_rate=0.5).eval()
    randomize_batchnorm_stats(head)
    feat = torch.rand(5, 8)
    expected = head((feat, ))
    head.reparameterize()
    head.reparameterize()  # idempotent
    assert isinstance(head.bn, torch.nn.Identity)
    torch.testing.assert_close(head((feat, )), expected, rtol=1e-5, atol=1e-5)
    fresh = TopFormerClsHead(num_classes=6, in_channels=8, dropout_rate=0.5, deploy=True).eval()
    assert set(fresh.state_dict()) == {'l.weight', 'l.bias'}
    fresh.load_state_dict(head.state_dict(), strict=True)
    torch.testing.assert_close(fresh((feat, )), head((feat, )), rtol=0, atol=0)
