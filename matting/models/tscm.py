"""TSCM, the Temporal Sparse Context Modulator: per-clip channel gates from the frames' [CLS] tokens.

f_enc <- sigmoid(FC(GRU(Proj(cls)))) * f_enc, one gate vector per clip, broadcast to the clip's sparse sites.
The official release lacks TSCM; this follows the paper's description. At full size (cls_dim=1024,
hidden=256, out_channels=512) it has 788,736 parameters, the paper's "about 0.79M".
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

GATE_BIAS_INIT = 3.0  # sigmoid(3) ~ 0.95: gates start close to identity and still receive gradient


class TSCM(nn.Module):
    """cls (B, T, cls_dim) -> gate (B, out_channels) in (0, 1).

    Proj: Linear(cls_dim -> hidden) per frame; GRU(hidden -> hidden) over the T frames; the last hidden
    state h_T goes through Linear(hidden -> out_channels) and a sigmoid.
    """

    def __init__(self, cls_dim: int, hidden: int = 256, out_channels: int = 512):
        super().__init__()
        self.proj = nn.Linear(cls_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, out_channels)
        # Small weights plus a positive bias: the modulator starts as a near-identity gate.
        nn.init.normal_(self.fc.weight, std=1e-3)
        nn.init.constant_(self.fc.bias, GATE_BIAS_INIT)

    @staticmethod
    def num_parameters(cls_dim: int, hidden: int, out_channels: int) -> int:
        """Closed form of the parameter count (GRU: 3 gates, input and hidden weights, two biases)."""
        proj = cls_dim * hidden + hidden
        gru = 3 * (hidden * hidden + hidden * hidden + 2 * hidden)
        fc = hidden * out_channels + out_channels
        return proj + gru + fc

    def forward(self, cls: Tensor) -> Tensor:
        if cls.dim() != 3:
            raise ValueError(f"cls must be (B, T, cls_dim), got shape {tuple(cls.shape)}")
        _, h_last = self.gru(self.proj(cls))  # h_last (1, B, hidden)
        return torch.sigmoid(self.fc(h_last[0]))


def gate_sites(features: Tensor, batch_index: Tensor, gate: Tensor) -> Tensor:
    """Scale each site's features by its clip's gate.

    features (N, C), batch_index (N,) int64 (coords[:, 0]), gate (B, C) -> (N, C).
    """
    if gate.shape[1] != features.shape[1]:
        raise ValueError(f"gate has {gate.shape[1]} channels, features have {features.shape[1]}")
    return features * gate[batch_index]
