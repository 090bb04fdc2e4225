"""The Wav2Lip generator and the SyncNet_color lip-sync expert, layer for layer as ``shared/specs/wav2lip.md``.

Module and attribute names are the official ones (``face_encoder_blocks``, ``audio_encoder``, ``conv_block``...)
because they *are* the checkpoint format: a renamed attribute would make every released checkpoint unloadable.
Both networks are meant to run in eval mode (BatchNorm on running statistics); in that mode each sample of a batch
is independent of the others, so batch size never changes a result.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Conv2d(nn.Module):
    """Conv (with bias) + BatchNorm + ReLU; ``residual`` adds the input before the ReLU (cin == cout, stride 1)."""

    def __init__(self, cin, cout, kernel_size, stride, padding, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return F.relu(out)


class Conv2dTranspose(nn.Module):
    """ConvTranspose (with bias, weight ``[cin, cout, k, k]``) + BatchNorm + ReLU."""

    def __init__(self, cin, cout, kernel_size, stride, padding, output_padding=0):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout)
        )

    def forward(self, x):
        return F.relu(self.conv_block(x))


def _res(c):
    return Conv2d(c, c, 3, 1, 1, residual=True)


def _audio_encoder(extra_256_residual: bool) -> nn.Sequential:
    """Input (N, 1, 80, 16) mel window, output (N, 512, 1, 1). SyncNet has one more 256-channel residual layer."""
    layers = [
        Conv2d(1, 32, 3, 1, 1), _res(32), _res(32),
        Conv2d(32, 64, 3, (3, 1), 1), _res(64), _res(64),
        Conv2d(64, 128, 3, 3, 1), _res(128), _res(128),
        Conv2d(128, 256, 3, (3, 2), 1), _res(256),
    ]
    if extra_256_residual:
        layers.append(_res(256))
    layers += [Conv2d(256, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)]
    return nn.Sequential(*layers)


class Wav2Lip(nn.Module):
    """The generator: 36,298,035 parameters in 352 state_dict keys.

    ``forward(audio, face)``:
    - 4-D: audio float32 (N, 1, 80, 16) normalised log-mel in [-4, 4] (row 0 = lowest band), face float32
      (N, 6, 96, 96) in [0, 1] = [masked BGR face, reference BGR face]; returns (N, 3, 96, 96) BGR in [0, 1].
    - 5-D (training layout): audio (B, T, 1, 80, 16), face (B, 6, T, 96, 96); returns (B, 3, T, 96, 96).
    """

    def __init__(self):
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(6, 16, 7, 1, 3)),
            nn.Sequential(Conv2d(16, 32, 3, 2, 1), _res(32), _res(32)),
            nn.Sequential(Conv2d(32, 64, 3, 2, 1), _res(64), _res(64), _res(64)),
            nn.Sequential(Conv2d(64, 128, 3, 2, 1), _res(128), _res(128)),
            nn.Sequential(Conv2d(128, 256, 3, 2, 1), _res(256), _res(256)),
            nn.Sequential(Conv2d(256, 512, 3, 2, 1), _res(512)),
            nn.Sequential(Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)),
        ])
        self.audio_encoder = _audio_encoder(extra_256_residual=False)
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(512, 512, 1, 1, 0)),
            nn.Sequential(Conv2dTranspose(1024, 512, 3, 1, 0), _res(512)),
            nn.Sequential(Conv2dTranspose(1024, 512, 3, 2, 1, output_padding=1), _res(512), _res(512)),
            nn.Sequential(Conv2dTranspose(768, 384, 3, 2, 1, output_padding=1), _res(384), _res(384)),
            nn.Sequential(Conv2dTranspose(512, 256, 3, 2, 1, output_padding=1), _res(256), _res(256)),
            nn.Sequential(Conv2dTranspose(320, 128, 3, 2, 1, output_padding=1), _res(128), _res(128)),
            nn.Sequential(Conv2dTranspose(160, 64, 3, 2, 1, output_padding=1), _res(64), _res(64)),
        ])
        self.output_block = nn.Sequential(Conv2d(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, audio_sequences, face_sequences):
        batch = audio_sequences.size(0)
        five_d = face_sequences.dim() > 4
        if five_d:
            # Time-major unroll (row = t*B + b), as the official code does; undone after the network.
            audio_sequences = torch.cat([audio_sequences[:, i] for i in range(audio_sequences.size(1))], dim=0)
            face_sequences = torch.cat([face_sequences[:, :, i] for i in range(face_sequences.size(2))], dim=0)
        x = self.audio_encoder(audio_sequences)
        feats = []
        f = face_sequences
        for block in self.face_encoder_blocks:
            f = block(f)
            feats.append(f)
        for block in self.face_decoder_blocks:
            x = block(x)
            # Decoder output first, encoder skip second: the order the checkpoint's weights expect.
            x = torch.cat((x, feats.pop()), dim=1)
        x = self.output_block(x)
        if five_d:
            x = torch.stack(torch.split(x, batch, dim=0), dim=2)
        return x


class SyncNetColor(nn.Module):
    """The lip-sync expert: 16,435,072 parameters in 217 state_dict keys.

    ``forward(audio, face)``: audio float32 (N, 1, 80, 16) mel window; face float32 (N, 15, 48, 96) = the lower
    halves of 5 consecutive 96x96 BGR frames stacked on channels, in [0, 1]. Returns ``(audio_emb, face_emb)``,
    each float32 (N, 512), L2-normalised and non-negative, so their cosine similarity lies in [0, 1].
    """

    def __init__(self):
        super().__init__()
        self.face_encoder = nn.Sequential(
            Conv2d(15, 32, 7, 1, 3),
            Conv2d(32, 64, 5, (1, 2), 1), _res(64), _res(64),
            Conv2d(64, 128, 3, 2, 1), _res(128), _res(128), _res(128),
            Conv2d(128, 256, 3, 2, 1), _res(256), _res(256),
            Conv2d(256, 512, 3, 2, 1), _res(512), _res(512),
            Conv2d(512, 512, 3, 2, 1),
            Conv2d(512, 512, 3, 1, 0),
            Conv2d(512, 512, 1, 1, 0),
        )
        self.audio_encoder = _audio_encoder(extra_256_residual=True)

    def forward(self, audio_sequences, face_sequences):
        face = self.face_encoder(face_sequences).view(face_sequences.size(0), -1)
        audio = self.audio_encoder(audio_sequences).view(audio_sequences.size(0), -1)
        return F.normalize(audio, p=2, dim=1), F.normalize(face, p=2, dim=1)
