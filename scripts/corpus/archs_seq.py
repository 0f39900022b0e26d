"""Attention and recurrent multi-task architectures of the conformance corpus (small widths).

Image models take `image` [N,3,H,W]; the BERT-like encoder takes `tokens` [N,L] (int64, 0 is
padding); the recurrent models take `sequence` [N,L,F]. Each returns one tensor per task.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchEmbed(nn.Module):
    def __init__(self, cin, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [N, tokens, dim]


class ViTBlock(nn.Module):
    """Pre-norm encoder block with nn.MultiheadAttention (batch_first) and a GELU MLP."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """Class token (nn.Parameter expanded to the batch and concatenated), learned positional
    table, two blocks; head 1 on the class token, head 2 on the mean patch token."""

    def __init__(self):
        super().__init__()
        dim, tokens = 16, 16
        self.patch = PatchEmbed(3, dim, 4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.blocks = nn.Sequential(ViTBlock(dim, 2, 32), ViTBlock(dim, 2, 32))
        self.norm = nn.LayerNorm(dim)
        self.cls = nn.Linear(dim, 6)
        self.reg = nn.Linear(dim, 4)

    def forward(self, image):
        x = self.patch(image)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.cls(x[:, 0]), self.reg(x[:, 1:].mean(1))


class EinsumAttention(nn.Module):
    """Hand-written multi-head attention with fused qkv Linear, einsum scores and mixing."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).unbind(2)
        s = torch.einsum("nqhd,nkhd->nhqk", q, k) * (d // self.heads) ** -0.5
        o = torch.einsum("nhqk,nkhd->nqhd", s.softmax(-1), v).reshape(n, t, d)
        return self.proj(o)


class EinsumBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EinsumAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTEinsum(nn.Module):
    """Token-pooling ViT with einsum attention and a positional table added without a class token."""

    def __init__(self):
        super().__init__()
        dim = 16
        self.patch = PatchEmbed(3, dim, 4)
        self.pos_embed = nn.Parameter(torch.zeros(1, 16, dim))
        self.blocks = nn.Sequential(EinsumBlock(dim, 2), EinsumBlock(dim, 4))
        self.norm = nn.LayerNorm(dim)
        self.cls = nn.Linear(dim, 5)
        self.attr = nn.Linear(dim, 3)

    def forward(self, image):
        x = self.norm(self.blocks(self.patch(image) + self.pos_embed)).mean(1)
        return self.cls(x), self.attr(x)


def relative_position_index(w):
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)  # 2, w*w
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
    return (rel[:, :, 0] * (2 * w - 1) + rel[:, :, 1]).flatten()  # [w^4]


class WindowAttention(nn.Module):
    """Swin window attention: relative position bias table gathered with constant indices."""

    def __init__(self, dim, heads, window):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)

    def forward(self, x):  # x: [B*windows, w*w, dim]
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index].view(t, t, -1).permute(2, 0, 1)
        attn = (attn + bias.unsqueeze(0)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))


class SwinBlock(nn.Module):
    def __init__(self, dim, heads, window, shift):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):  # x: [N, H, W, C] channels-last
        n, h, w, c = x.shape
        s, ws = self.shift, self.window
        y = self.norm1(x)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = y.view(n, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        y = self.attn(y)
        y = y.view(n, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, c)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


class SwinNet(nn.Module):
    def __init__(self):
        super().__init__()
        dim = 16
        self.patch = nn.Conv2d(3, dim, 2, stride=2)
        self.patch_norm = nn.LayerNorm(dim)
        self.blocks = nn.Sequential(SwinBlock(dim, 2, 4, 0), SwinBlock(dim, 2, 4, 2))
        self.norm = nn.LayerNorm(dim)
        self.cls = nn.Linear(dim, 6)
        self.attr = nn.Linear(dim, 5)

    def forward(self, image):
        x = self.patch_norm(self.patch(image).permute(0, 2, 3, 1))
        x = self.norm(self.blocks(x)).mean((1, 2))
        return self.cls(x), self.attr(x)


class BertLike(nn.Module):
    """nn.Embedding tokens + a learned positional table sliced to the sequence length, padding mask
    from token 0, nn.TransformerEncoderLayer (post-norm, GELU); sentence head on the first token,
    per-token tagging head returned as [N, C, L] (cross-entropy class axis 1)."""

    VOCAB, MAXLEN, PAD = 40, 16, 0

    def __init__(self):
        super().__init__()
        dim = 16
        self.embed = nn.Embedding(self.VOCAB, dim, padding_idx=None)
        self.pos = nn.Parameter(torch.zeros(1, self.MAXLEN, dim))
        self.emb_norm = nn.LayerNorm(dim)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, activation="gelu", batch_first=True),
            num_layers=2, enable_nested_tensor=False)
        self.intent = nn.Linear(dim, 4)
        self.tags = nn.Linear(dim, 5)

    def forward(self, tokens):
        x = self.emb_norm(self.embed(tokens) + self.pos[:, : tokens.shape[1]])
        x = self.encoder(x, src_key_padding_mask=tokens == self.PAD)
        return self.intent(x[:, 0]), self.tags(x).permute(0, 2, 1)


class RecurrentNet(nn.Module):
    """A GRU or LSTM trunk (batch_first); a classification head on the last step and a per-step
    regression head [N, L, 2]."""

    def __init__(self, kind, layers, bidirectional):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
        self.rnn = rnn(5, 8, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        out = 16 if bidirectional else 8
        self.cls = nn.Linear(out, 4)
        self.step = nn.Linear(out, 2)

    def forward(self, sequence):
        y, _ = self.rnn(sequence)
        return self.cls(y[:, -1]), self.step(y)
