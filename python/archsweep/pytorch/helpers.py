"""Modules the exported source needs beyond ``torch.nn``, copied into each file that uses them
(the export reads this file as text: archsweep never imports it, and the exported file imports
only torch).

``ShiftedWindowAttention`` is archsweep's ``window_attention``: torchvision's
``ShiftedWindowAttention`` (Swin, ``version=1``) and ``ShiftedWindowAttentionV2`` (Swin V2,
``version=2``) with its ``shifted_window_attention`` function, written out; MaxViT's block and
grid attention count the same (its family file says why). Parameter and buffer names and shapes
are torchvision's.

``StochasticDepth`` is archsweep's ``stochastic_depth``: torchvision's ``StochasticDepth``
(``torchvision.ops.stochastic_depth``), written out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ShiftedWindowAttention(nn.Module):
    """Multi-head self-attention within windows of a channels-last (N, H, W, C) map, with a
    relative position bias: Swin's (version 1: a learned table) or Swin V2's (version 2: cosine
    attention, a learned logit scale and a position-bias MLP). The map is padded at the bottom
    and right to whole windows; ``shift_size`` rolls it first (and masks across the seams)."""

    relative_position_index: torch.Tensor
    relative_coords_table: torch.Tensor

    def __init__(self, dim: int, num_heads: int, window_size: tuple[int, int] = (7, 7), shift_size: tuple[int, int] = (0, 0),
                 qkv_bias: bool = True, proj_bias: bool = True, version: int = 1, cpb_hidden: int = 512,
                 attention_dropout: float = 0.0, dropout: float = 0.0):
        super().__init__()
        self.window_size = [int(w) for w in window_size]
        self.shift_size = [int(s) for s in shift_size]
        self.num_heads = num_heads
        self.version = version
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        wh, ww = self.window_size
        if version == 1:
            table = torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads)
            self.relative_position_bias_table = nn.Parameter(nn.init.trunc_normal_(table, std=0.02))
        else:
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((num_heads, 1, 1))))
            self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb_hidden, bias=True), nn.ReLU(inplace=True),
                                         nn.Linear(cpb_hidden, num_heads, bias=False))
            if qkv_bias:
                with torch.no_grad():
                    self.qkv.bias[dim:2 * dim].zero_()
            coords_h = torch.arange(-(wh - 1), wh, dtype=torch.float32)
            coords_w = torch.arange(-(ww - 1), ww, dtype=torch.float32)
            coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
            coords[:, :, :, 0] /= max(wh - 1, 1)
            coords[:, :, :, 1] /= max(ww - 1, 1)
            coords *= 8  # to [-8, 8], then log-spaced
            coords = torch.sign(coords) * torch.log2(torch.abs(coords) + 1.0) / 3.0
            self.register_buffer("relative_coords_table", coords)  # (1, 2wh - 1, 2ww - 1, 2)
        grid = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)  # 2, wh*ww
        rel = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0).contiguous()  # T, T, 2
        rel[:, :, 0] += wh - 1
        rel[:, :, 1] += ww - 1
        rel[:, :, 0] *= 2 * ww - 1
        self.register_buffer("relative_position_index", rel.sum(-1).flatten())  # T * T

    def relative_position_bias(self) -> torch.Tensor:
        t = self.window_size[0] * self.window_size[1]
        if self.version == 1:
            table = self.relative_position_bias_table
        else:
            table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias = table[self.relative_position_index].view(t, t, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        return bias if self.version == 1 else 16 * torch.sigmoid(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        wh, ww = self.window_size
        heads = self.num_heads
        x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        _, ph, pw, _ = x.shape
        sh, sw = self.shift_size
        if wh >= ph:
            sh = 0
        if ww >= pw:
            sw = 0
        shifted = sh + sw > 0
        if shifted:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        windows = (ph // wh) * (pw // ww)
        x = x.view(n, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(n * windows, wh * ww, c)
        qkv_bias: torch.Tensor | None = self.qkv.bias
        if self.version == 2 and qkv_bias is not None:
            qkv_bias = torch.cat([qkv_bias[:c], torch.zeros_like(qkv_bias[c:2 * c]), qkv_bias[2 * c:]])  # no key bias
        qkv = F.linear(x, self.qkv.weight, qkv_bias).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.version == 1:
            attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1))
        else:
            attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
            attn = attn * torch.clamp(self.logit_scale, max=4.605170185988092).exp()  # at most log(100)
        attn = attn + self.relative_position_bias()
        if shifted:
            # tokens from different sides of a seam of the roll do not attend to each other
            mask = x.new_zeros((ph, pw))
            count = 0
            for hs in ((0, -wh), (-wh, -sh), (-sh, None)):
                for ws in ((0, -ww), (-ww, -sw), (-sw, None)):
                    mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                    count += 1
            mask = mask.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(windows, wh * ww)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = attn.view(n, windows, heads, x.size(1), x.size(1)) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, x.size(1), x.size(1))
        attn = F.dropout(F.softmax(attn, dim=-1), p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
        x = F.dropout(F.linear(x, self.proj.weight, self.proj.bias), p=self.dropout, training=self.training)
        x = x.view(n, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(n, ph, pw, c)
        if shifted:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class StochasticDepth(nn.Module):
    """In training, zero whole samples (``mode="row"``: one draw per sample) or the whole batch
    (``mode="batch"``) with probability ``p``, scaling what survives by 1 / (1 - p); the identity
    at inference."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise
