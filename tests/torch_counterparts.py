"""What each archsweep op is cross-checked against in tests/test_torch_crosscheck.py, readable
without torch: tests/test_op_coverage.py fails when an op of ``archsweep.ops()`` is in neither
``TORCH_COUNTERPART`` nor ``NOT_CROSS_CHECKED``, so a new op cannot silently go unchecked.

Adding an op to the cross-check: its entry here, its branch in ``torch_module`` and a draw in
the random-graph generator (``Gen``); ``test_random_graphs_cover_the_ops`` then expects the
generator to produce it.
"""

from __future__ import annotations

# op -> the torch module or function that ``torch_module`` builds for it (a dotted name under
# ``torch``; test_torch_crosscheck checks that each resolves).
TORCH_COUNTERPART: dict[str, str] = {
    "conv1d": "torch.nn.Conv1d",
    "conv2d": "torch.nn.Conv2d",
    "conv3d": "torch.nn.Conv3d",
    "conv_transpose1d": "torch.nn.ConvTranspose1d",
    "conv_transpose2d": "torch.nn.ConvTranspose2d",
    "conv_transpose3d": "torch.nn.ConvTranspose3d",
    "linear": "torch.nn.Linear",
    "batchnorm1d": "torch.nn.BatchNorm1d",
    "batchnorm2d": "torch.nn.BatchNorm2d",
    "batchnorm3d": "torch.nn.BatchNorm3d",
    "layernorm": "torch.nn.LayerNorm",
    "groupnorm": "torch.nn.GroupNorm",
    "instancenorm1d": "torch.nn.InstanceNorm1d",
    "instancenorm2d": "torch.nn.InstanceNorm2d",
    "instancenorm3d": "torch.nn.InstanceNorm3d",
    "instancenorm": "torch.nn.InstanceNorm2d",  # InstanceNorm{1,2,3}d by the input's rank
    "relu": "torch.nn.ReLU",
    "relu6": "torch.nn.ReLU6",
    "leaky_relu": "torch.nn.LeakyReLU",
    "elu": "torch.nn.ELU",
    "gelu": "torch.nn.GELU",
    "silu": "torch.nn.SiLU",
    "mish": "torch.nn.Mish",
    "hardswish": "torch.nn.Hardswish",
    "hardsigmoid": "torch.nn.Hardsigmoid",
    "sigmoid": "torch.nn.Sigmoid",
    "tanh": "torch.nn.Tanh",
    "softmax": "torch.nn.Softmax",
    "dropout": "torch.nn.Dropout",
    "identity": "torch.nn.Identity",
    "zeros": "torch.Tensor.mul",  # x.mul(0.0), as xautodl's Zero (NAS-Bench-201's `none` edge)
    "maxpool1d": "torch.nn.MaxPool1d",
    "maxpool2d": "torch.nn.MaxPool2d",
    "maxpool3d": "torch.nn.MaxPool3d",
    "avgpool1d": "torch.nn.AvgPool1d",
    "avgpool2d": "torch.nn.AvgPool2d",
    "avgpool3d": "torch.nn.AvgPool3d",
    "adaptive_avgpool1d": "torch.nn.AdaptiveAvgPool1d",
    "adaptive_avgpool2d": "torch.nn.AdaptiveAvgPool2d",
    "adaptive_avgpool3d": "torch.nn.AdaptiveAvgPool3d",
    "adaptive_maxpool1d": "torch.nn.AdaptiveMaxPool1d",
    "adaptive_maxpool2d": "torch.nn.AdaptiveMaxPool2d",
    "adaptive_maxpool3d": "torch.nn.AdaptiveMaxPool3d",
    "flatten": "torch.nn.Flatten",
    "reshape": "torch.Tensor.reshape",
    "permute": "torch.Tensor.permute",
    "transpose": "torch.Tensor.transpose",
    "select": "torch.Tensor.select",
    "add": "torch.add",
    "mul": "torch.mul",
    "concat": "torch.cat",
    "channel_shuffle": "torch.nn.ChannelShuffle",
    "upsample": "torch.nn.Upsample",
    "multihead_attention": "torch.nn.MultiheadAttention",
    "embedding": "torch.nn.Embedding",
    "class_token": "torch.cat",  # a learned (1, 1, E) parameter concatenated in front
    "positional_embedding": "torch.add",  # a learned parameter of the sample's shape, added
}

# Ops with no torch counterpart in the cross-check, and why.
NOT_CROSS_CHECKED: dict[str, str] = {
    "layer_scale": "torch has no LayerScale module (torchvision multiplies by a gamma parameter "
    "inside its blocks); no builder written yet, the op's unit tests and the ConvNeXt family's "
    "torchvision-measured counts pin it",
    "chunk": "torch.chunk returns all pieces while archsweep's chunk is one of them; no builder "
    "written yet (it would be x.chunk(chunks, dim)[index]), the op's unit tests pin its shapes",
    "window_attention": "Swin's shifted-window attention lives in torchvision, which the "
    "cross-check does not install; tests/test_families_more.py compares the Swin and MaxViT "
    "families with counts measured on torchvision's models instead",
}

# Ops that torch_module maps but the random-graph generator does not draw in its N_GRAPHS
# seeds, and why (the grids and tests of the cross-check do not cover them either).
NOT_GENERATED: dict[str, str] = {
    "identity": "a no-op: dropout (drawn by the generator) runs the same view path",
    "zeros": "a NAS cell's `none` edge, shape-preserving and free: data/spaces/nb201.toml's "
    "cross-check (tests/test_nas_spaces.py) runs it against xautodl's Zero on every sampled cell",
    "instancenorm1d": "the generator can draw it (a norm step on an (N, C, L) input) but none of "
    "the N_GRAPHS seeds does; instancenorm2d/3d and the rank-resolved instancenorm run the same "
    "per-channel rule",
}
