# Copyright (c) mmhybrid contributors. All rights reserved.
"""FLOP counting counts attention matmuls (hand-computed counts on tiny models)."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhybrid.analysis import count_complexity, count_parameters

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BATCH, TOKENS, DIM, HEADS = 2, 16, 8, 2
HEAD_DIM = DIM // HEADS
LINEAR_FLOPS = BATCH * TOKENS * DIM * 3 * DIM + BATCH * TOKENS * DIM * DIM  # qkv + proj
# q @ k^T and attn @ v: B * heads * N * N * d each.
ATTENTION_FLOPS = 2 * BATCH * HEADS * TOKENS * TOKENS * HEAD_DIM


class TinyAttention(nn.Module):

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x):
        q, k, v = self.qkv(x).reshape(BATCH, TOKENS, 3, HEADS, HEAD_DIM).permute(2, 0, 3, 1,
                                                                                 4)
        if self.kind == 'sdpa':
            out = F.scaled_dot_product_attention(q, k, v)
        elif self.kind == 'matmul':
            out = torch.matmul((q @ k.transpose(-2, -1)).softmax(-1), v)
        else:  # bmm on flattened heads
            q, k, v = (t.reshape(BATCH * HEADS, TOKENS, HEAD_DIM) for t in (q, k, v))
            out = torch.bmm(torch.bmm(q, k.transpose(1, 2)).softmax(-1), v)
        return self.proj(out.reshape(BATCH, HEADS, TOKENS, HEAD_DIM).transpose(1, 2).reshape(
            BATCH, TOKENS, DIM))


@pytest.mark.parametrize('kind', ['sdpa', 'matmul', 'bmm'])
def test_attention_matmuls_are_counted(kind):
    result = count_complexity(TinyAttention(kind), torch.rand(BATCH, TOKENS, DIM))
    assert result.flops == LINEAR_FLOPS + ATTENTION_FLOPS
    assert result.attention_flops == ATTENTION_FLOPS
    assert not any('attention' in op or 'matmul' in op or 'bmm' in op
                   for op in result.unsupported_ops)
    assert result.params == count_parameters(TinyAttention(kind)) == (DIM * 3 * DIM + 3 * DIM +
                                                                      DIM * DIM + DIM)


class BroadcastMatmul(nn.Module):

    def forward(self, x):  # (T, d) @ (B, h, d, T): fvcore's handle misses the batch dims
        return torch.ones(TOKENS, HEAD_DIM) @ x


def test_matmul_counts_broadcast_batch_dims():
    x = torch.rand(BATCH, HEADS, HEAD_DIM, TOKENS)
    assert count_complexity(BroadcastMatmul(), x).flops == \
        BATCH * HEADS * TOKENS * HEAD_DIM * TOKENS


def test_get_flops_counts_edgevit_attention(load_tool):
    """The tool on a real config: EdgeViT's fused attention is counted, not skipped."""
    get_flops = load_tool('analysis_tools/get_flops.py')
    results = get_flops.get_flops(
        osp.join(ROOT, 'configs/edgevit/edgevit-xxs_8xb256_in1k.py'), shape=[64])
    model, backbone = results['model'], results['backbone']
    assert results['input_shape'] == [64, 64]
    assert model['params'] == 4067704  # the metafile's figure (the paper's XXS)
    assert model['by_operator']['scaled_dot_product_attention'] == \
        model['attention_flops'] > 0
    assert backbone['attention_flops'] == model['attention_flops']
    assert 'aten::scaled_dot_product_attention' not in model['unsupported_ops']
    assert 'FLOPs' in get_flops.format_results(results)
