"""Per-sample gradients with torch.func, and their clipping and noising: a DP step without Opacus' hooks.

`per_sample_gradients` computes every record's gradient of a module's parameters in one batched call,
vmap(grad(loss of one record)); the loss may itself differentiate the module's input (a gradient
penalty: the double backward that Opacus' per-layer hooks refuse). `sanitize` then does what Opacus'
DPOptimizer does (opacus/optimizers/optimizer.py, clip_and_accumulate / add_noise / scale_grad), per
group of parameters: each record's group gradient is scaled by min(1, c / (norm + 1e-6)), the scaled
gradients are summed, noise N(0, (sigma c)^2) is added to every coordinate (drawn parameter by
parameter in the module's order, with Opacus' own generator, so one group reproduces Opacus exactly),
and the sum is divided by the expected batch size.

Sensitivity: a record's clipped gradient has norm at most sqrt(sum_j c_j^2); with noise sigma c_j on
group j, scaling group j by 1/c_j makes this one Gaussian mechanism of sensitivity sqrt(k) and noise
sigma, i.e. noise multiplier sigma / sqrt(k) for the accountant (`accounted_noise_multiplier`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vmap


def per_sample_gradients(
    module: nn.Module, loss_of_one: Callable, batched: tuple
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """({parameter name: [B, *shape]}, per-record losses [B]) for the parameters that require a gradient.

    `loss_of_one(call, *record)`: the loss of one record, where `call(*inputs)` runs the module on
    inputs that carry a batch dimension (of 1); `batched` holds tensors with the batch first, or None."""
    params = {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}
    buffers = dict(module.named_buffers())
    size = next(t.shape[0] for t in batched if t is not None)
    if size == 0:  # an empty Poisson batch: no record, no gradient (vmap cannot map over nothing)
        empty = {name: p.new_zeros(0, *p.shape) for name, p in params.items()}
        return empty, next(iter(params.values())).new_zeros(0)

    def one(params, *record):
        return loss_of_one(lambda *inputs: functional_call(module, (params, buffers), inputs), *record)

    in_dims = (None, *(None if t is None else 0 for t in batched))
    grads, losses = vmap(grad_and_value(one), in_dims=in_dims, randomness="different")(params, *batched)
    return grads, losses


def group_norms(grads: dict[str, torch.Tensor], groups: list[list[str]]) -> torch.Tensor:
    """[B, groups]: each record's gradient norm over each group's parameters (Opacus' formula: the norm
    of the per-parameter norms)."""
    columns = []
    for names in groups:
        per_param = [grads[n].reshape(len(grads[n]), -1).norm(2, dim=-1) for n in names]
        columns.append(torch.stack(per_param, dim=1).norm(2, dim=1))
    return torch.stack(columns, dim=1)


def clip_factors(norms: torch.Tensor, bounds, eps: float = 1e-6) -> torch.Tensor:
    """min(1, bound / (norm + eps)): the factor a record's gradient (or a group of it) is scaled by so its norm is at
    most `bound` (Opacus' formula, eps 1e-6). Every clipping of a sanitized channel goes through this function --
    the records', and the gradient canaries' an audit plants (audit/gradient.py) -- so a clipping that is broken
    here is broken for both, and the audit sees it."""
    bounds = torch.as_tensor(bounds, dtype=norms.dtype, device=norms.device)
    return (bounds / (norms + eps)).clamp(max=1.0)


def gaussian_noise(std: float, reference: torch.Tensor, secure_mode: bool = False) -> torch.Tensor:
    """N(0, std^2) noise shaped like `reference`, drawn by Opacus' own routine (the noise DPOptimizer adds), looked
    up when called: every sanitized channel draws its noise here or in Opacus' optimizer, which calls the same."""
    from opacus.optimizers import optimizer

    return optimizer._generate_noise(std=std, reference=reference, secure_mode=secure_mode)


def clipped_sum(
    grads: dict[str, torch.Tensor], order: list[str], groups: list[list[str]], bounds: list[float]
) -> dict[str, torch.Tensor]:
    """{parameter: sum_i min(1, bounds[j] / (norm_ij + 1e-6)) g_i}: each record's group-j gradient clipped to
    bounds[j], summed over the records (before any noise)."""
    group_of = {name: j for j, names in enumerate(groups) for name in names}
    factors = clip_factors(group_norms(grads, groups), bounds)  # [B, k]
    return {
        name: torch.einsum("i,i...", factors[:, group_of[name]].to(grads[name].dtype), grads[name]).contiguous()
        for name in order
    }


def group_stds(order: list[str], groups: list[list[str]], bounds: list[float], noise_multiplier: float) -> dict:
    """{parameter: the noise std of its group}: noise_multiplier * bounds[j]."""
    return {name: noise_multiplier * bounds[j] for j, names in enumerate(groups) for name in names}


def sanitize(
    grads: dict[str, torch.Tensor],
    order: list[str],
    groups: list[list[str]],
    bounds: list[float],
    noise_multiplier: float,
    expected_batch_size: int,
    secure_mode: bool = False,
) -> dict[str, torch.Tensor]:
    """The noised, clipped mean gradient per parameter: group j clipped to bounds[j], noise sigma * bounds[j].

    `order`: the parameter names in the module's order (the order noise is drawn in)."""
    summed = clipped_sum(grads, order, groups, bounds)
    stds = group_stds(order, groups, bounds, noise_multiplier)
    return noised_mean(summed, order, stds, expected_batch_size, secure_mode)


def accounted_noise_multiplier(group_noise_multiplier: float, n_groups: int) -> float:
    """The noise multiplier the accountant is charged with when each of k groups is clipped to its own
    bound c_j and noised with group_noise_multiplier * c_j: sigma / sqrt(k) (module docstring)."""
    return group_noise_multiplier / math.sqrt(n_groups)


# --- clipping without materializing per-sample gradients (ghost clipping / book-keeping) ---------------
# One forward of the batch and one backward to the layers' outputs give, per layer, its input a and the
# gradient d at its output. A record's weight gradient is d_i a_i^T summed over positions, so its squared
# norm is sum_{l,l'} (a_i^T a_i)[l,l'] (d_i^T d_i)[l,l'] (Li et al. 2022, "Large language models can be
# strong differentially private learners", ghost clipping; Bu et al. 2023, book-keeping) -- or, where the
# position count L is large against the weight, the per-record gradient itself; and the clipped sum
# sum_i c_i d_i a_i^T is one ordinary weight gradient. The result is Opacus' update (tests/test_dp_fast.py).


def _blocks(t: torch.Tensor, rows_per_record: int) -> list[torch.Tensor]:
    """[r*B, F, L] -> r views [B, F, L]: block j holds row j of every record (no copy)."""
    return list(t.view(rows_per_record, t.shape[0] // rows_per_record, *t.shape[1:]).unbind(0))


def _bias_term(d_sums: torch.Tensor, r: int) -> torch.Tensor:
    """Each record's squared bias gradient norm from d_sums [rB, O], its rows' output gradients summed over
    positions: the sum over its rows, squared."""
    return d_sums.view(r, -1, d_sums.shape[1]).sum(0).pow(2).sum(1)


def _per_record_norms(a: torch.Tensor, d: torch.Tensor, r: int) -> torch.Tensor:
    """Each record's squared weight gradient norm from its gradient sum_j d_j a_j^T itself (a: [rB, P, L], d:
    [rB, O, L])."""
    per_record = sum(torch.bmm(dj, aj.transpose(1, 2)) for dj, aj in zip(_blocks(d, r), _blocks(a, r)))
    return per_record.flatten(1).pow(2).sum(1)


def _gram_norms(a_gram: Callable[[int, int], torch.Tensor], d_blocks: list[torch.Tensor]) -> torch.Tensor:
    """Each record's squared weight gradient norm sum_{j,k} <a_j^T a_k, d_j^T d_k> over its rows j, k, from
    `a_gram(j, k)` ([B, L, L], the Gram of row j's and row k's input positions). The (k, j) term is the (j, k) one
    transposed on both sides, so each unordered pair is computed once."""
    r = len(d_blocks)
    return sum(
        (1 if j == k else 2) * (a_gram(j, k) * torch.bmm(d_blocks[j].transpose(1, 2), d_blocks[k])).sum((1, 2))
        for j in range(r)
        for k in range(j, r)
    )


def _gram_is_smaller(positions: int, inputs: int, outputs: int) -> bool:
    """Whether a record's position Gram (positions^2, all its rows' positions) is no larger than its weight gradient
    (inputs x outputs): then its norm comes from Grams, else from the per-record gradient."""
    return positions**2 <= inputs * outputs


def _superpixels(m: nn.Conv2d, a: torch.Tensor, r: int) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]] | None:
    """The convolution's zero-padded input cut into stride x stride blocks (space to depth), each record's r rows side
    by side: [B, C*sh*sw, r*Qh*Qw], with the output's (OH, OW) and the blocks' (Qh, Qw); None where the kernel is not
    a whole number of strides (or is dilated, or pads other than with zeros). A window at output (oy, ox) is exactly
    the blocks (oy + u, ox + v), u < kh / sh, v < kw / sw: its inner product with another window is a sum of
    kh/sh x kw/sw block inner products, so the windows' Gram is a few shifted sums of the blocks' Gram, without
    unfolding the windows (im2col; at 32x32 the blocks' Gram also takes 2.5x fewer products than the windows')."""
    (kh, kw), (sh, sw) = m.kernel_size, m.stride
    if m.dilation != (1, 1) or kh % sh or kw % sw or m.padding_mode != "zeros" or isinstance(m.padding, str):
        return None
    (ph, pw), (n, c, h, w) = m.padding, a.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    qh, qw = oh - 1 + kh // sh, ow - 1 + kw // sw
    b = n // r
    rows_of_records = a.view(r, b, c, h, w).permute(1, 2, 0, 3, 4)  # [B, C, r, H, W]: row j*B + i is record i's
    x = a.new_zeros(b, c, sh, sw, r, qh, qw)  # block (i, j) holds padded pixel (i * sh + by, j * sw + bx) at [by, bx]
    for by in range(sh):
        rows = _block_range(by, sh, ph, h, qh)
        for bx in range(sw):
            cols = _block_range(bx, sw, pw, w, qw)
            if rows and cols:  # one strided copy per offset in the block: no padded copy, no permuted one
                x[:, :, by, bx, :, rows[0] : rows[1], cols[0] : cols[1]] = rows_of_records[
                    ..., rows[2] :: sh, cols[2] :: sw
                ][..., : rows[1] - rows[0], : cols[1] - cols[0]]
    return x.view(b, c * sh * sw, r * qh * qw), (oh, ow), (qh, qw)


def _block_range(offset: int, stride: int, pad: int, size: int, blocks: int) -> tuple[int, int, int] | None:
    """(first block, end block, first input pixel) of the blocks whose pixel at `offset` is an input pixel, not
    padding: padded pixel q * stride + offset is input pixel q * stride + offset - pad."""
    first = max(0, -(-(pad - offset) // stride))
    end = min(blocks, (size - 1 + pad - offset) // stride + 1)
    return (first, end, first * stride + offset - pad) if end > first else None


def _window_gram(left: torch.Tensor, right: torch.Tensor, m: nn.Conv2d, out_hw, q_hw) -> torch.Tensor:
    """[B, jL, kL]: the inner products of the windows of j rows of each record with those of k rows, from their
    blocks ([B, F, jQ] and [B, F, kQ], `_superpixels`): one Gram of the blocks, then its shifted sums, rows first,
    then columns."""
    (oh, ow), (qh, qw) = out_hw, q_hw
    j, k = left.shape[2] // (qh * qw), right.shape[2] // (qh * qw)
    g = torch.bmm(left.transpose(1, 2), right).view(-1, j, qh, qw, k, qh, qw)
    g = sum(g[:, :, u : u + oh, :, :, u : u + oh, :] for u in range(m.kernel_size[0] // m.stride[0]))
    g = sum(g[:, :, :, v : v + ow, :, :, v : v + ow] for v in range(m.kernel_size[1] // m.stride[1]))
    return g.reshape(-1, j * oh * ow, k * oh * ow)


def _block_gram_norms(blocks, m: nn.Conv2d, d_flat: torch.Tensor, r: int) -> torch.Tensor:
    """Each record's squared weight gradient norm from its blocks (`_superpixels`). Where a row's blocks are few,
    one Gram over all of a record's rows costs fewer operations; where they are many (64 or more: 32x32 DCGAN's
    second layer), products dominate, and each unordered pair of rows once takes (r+1)/2r of them (measured on a
    2-core CPU: 4.5 against 5.3 ms there, 1.4 against 1.2 ms at 25 blocks)."""
    x, out_hw, q_hw = blocks
    if q_hw[0] * q_hw[1] < 64:
        d_record = _side_by_side(d_flat, r)
        d_gram = torch.bmm(d_record.transpose(1, 2), d_record)
        return torch.linalg.vecdot(_window_gram(x, x, m, out_hw, q_hw).flatten(1), d_gram.flatten(1))
    rows = x.view(x.shape[0], x.shape[1], r, -1).unbind(2)  # [B, F, Q] views, row j of every record
    return _gram_norms(lambda j, k: _window_gram(rows[j], rows[k], m, out_hw, q_hw), _blocks(d_flat, r))


def _side_by_side(t: torch.Tensor, r: int) -> torch.Tensor:
    """[rB, F, L] -> [B, F, rL]: each record's r rows' positions side by side (a copy)."""
    return t.view(r, t.shape[0] // r, *t.shape[1:]).permute(1, 2, 0, 3).reshape(t.shape[0] // r, t.shape[1], -1)


def _windows(m: nn.Conv2d, a: torch.Tensor) -> torch.Tensor:
    """F.unfold(a) for the convolution's windows, [N, C*kh*kw, L], as a strided view of the zero-padded input copied
    once (im2col loops over the records: 4x slower on a 2-core CPU for DCGAN's first layer)."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = m.kernel_size, m.stride, m.dilation, m.padding
    x = F.pad(a, (pw, pw, ph, ph))
    n, c, hp, wp = x.shape
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    s = x.stride()
    windows = x.as_strided((n, c, kh, kw, oh, ow), (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw))
    return windows.reshape(n, c * kh * kw, oh * ow)


def _conv2d(m: nn.Conv2d, a: torch.Tensor, d: torch.Tensor, r: int):
    d_flat = d.flatten(2)  # [rB, O, L]
    inputs = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
    by_gram = _gram_is_smaller(r * d_flat.shape[2], inputs, m.out_channels)
    blocks = _superpixels(m, a, r) if by_gram else None
    if blocks is not None:
        sq = _block_gram_norms(blocks, m, d_flat, r)
    elif by_gram:
        cols_blocks = _blocks(_windows(m, a), r)  # [B, P, L] each
        sq = _gram_norms(lambda j, k: torch.bmm(cols_blocks[j].transpose(1, 2), cols_blocks[k]), _blocks(d_flat, r))
    else:
        sq = _per_record_norms(_windows(m, a), d_flat, r)
    d_sums = d_flat.sum(2) if m.bias is not None else None  # [rB, O], for the bias's norm and its clipped sum
    if d_sums is not None:
        sq = sq + _bias_term(d_sums, r)

    def clipped_sum(factors: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = factors.repeat(r)[:, None, None, None]  # row j*B + i is record i's
        # the weight gradient is linear in the inputs and in the output gradients: scale the smaller of the two
        a_s, d_s = (a * rows, d) if a.numel() < d.numel() else (a, d * rows)
        out = {  # one ordinary weight gradient (the convolution's own kernel)
            "weight": torch.nn.grad.conv2d_weight(
                a_s, m.weight.shape, d_s, stride=m.stride, padding=m.padding, dilation=m.dilation
            )
        }
        if m.bias is not None:
            out["bias"] = torch.mv(d_sums.t(), rows.flatten())  # sum_i c_i (d_i summed over positions)
        return out

    return sq, clipped_sum


def _linear(m: nn.Linear, a: torch.Tensor, d: torch.Tensor, r: int):
    a, d = a.reshape(a.shape[0], -1, a.shape[-1]), d.reshape(d.shape[0], -1, d.shape[-1])  # [rB, L, F]
    a_t, d_t = a.transpose(1, 2), d.transpose(1, 2)  # [rB, F, L]
    d_blocks = _blocks(d_t, r)
    if _gram_is_smaller(r * a.shape[1], m.in_features, m.out_features):
        a_blocks = _blocks(a_t, r)
        sq = _gram_norms(lambda j, k: torch.bmm(a_blocks[j].transpose(1, 2), a_blocks[k]), d_blocks)
    else:
        sq = _per_record_norms(a_t, d_t, r)
    if m.bias is not None:
        sq = sq + _bias_term(d_t.sum(2), r)

    def clipped_sum(factors: torch.Tensor) -> dict[str, torch.Tensor]:
        scaled = d * factors.repeat(r)[:, None, None]
        out = {"weight": torch.einsum("nlo,nlp->op", scaled, a).view_as(m.weight)}
        if m.bias is not None:
            out["bias"] = scaled.sum((0, 1))
        return out

    return sq, clipped_sum


def _affine_terms(weight_grads: torch.Tensor, bias_grads: torch.Tensor, r: int):
    """Normalization layers: the per-record gradients are as small as the layer, so they are kept."""
    w = weight_grads.view(r, -1, *weight_grads.shape[1:]).sum(0)
    b = bias_grads.view(r, -1, *bias_grads.shape[1:]).sum(0)
    sq = w.flatten(1).pow(2).sum(1) + b.flatten(1).pow(2).sum(1)
    return sq, lambda factors: {
        "weight": torch.einsum("n,n...->...", factors, w),
        "bias": torch.einsum("n,n...->...", factors, b),
    }


def _group_norm(m: nn.GroupNorm, a: torch.Tensor, d: torch.Tensor, r: int):
    normalized = F.group_norm(a, m.num_groups, eps=m.eps)
    return _affine_terms((d * normalized).flatten(2).sum(2), d.flatten(2).sum(2), r)


def _layer_norm(m: nn.LayerNorm, a: torch.Tensor, d: torch.Tensor, r: int):
    normalized = F.layer_norm(a, m.normalized_shape, eps=m.eps)
    lead = tuple(range(1, a.dim() - len(m.normalized_shape)))
    return _affine_terms((d * normalized).sum(lead) if lead else d * normalized, d.sum(lead) if lead else d, r)


LAYERWISE = {nn.Conv2d: _conv2d, nn.Linear: _linear, nn.GroupNorm: _group_norm, nn.LayerNorm: _layer_norm}


def layerwise_supported(module: nn.Module) -> bool:
    """Every module that holds parameters is a kind `layerwise_clipped_sum` knows, with both its weight and
    (if any) bias trained, and no grouped convolution, convolution padded other than with zeros (or by name), or norm
    without an affine part."""
    for m in module.modules():
        own = dict(m.named_parameters(recurse=False))
        if not own:
            continue
        if type(m) not in LAYERWISE or set(own) - {"weight", "bias"} or getattr(m, "groups", 1) != 1:
            return False
        if isinstance(m, nn.Conv2d) and (m.padding_mode != "zeros" or isinstance(m.padding, str)):
            return False  # the windows are unfolded with zero padding, from the stride and padding numbers
        if not all(p.requires_grad for p in own.values()):
            return False
    return True


def layerwise_clipped_sum(
    module: nn.Module, summed_loss: Callable[[], torch.Tensor], max_norm: float, rows_per_record: int = 1
) -> dict[str, torch.Tensor] | None:
    """{parameter name: sum_i min(1, C / (||g_i|| + 1e-6)) g_i} for the per-record gradients g_i of a loss that
    `summed_loss()` computes as the SUM of per-record terms over a batch it runs through `module`, without
    forming the g_i. With rows_per_record = r the module's batch holds r blocks of B rows (the real records,
    then their generated partners) and row i of every block is record i's. None when a layer ran twice."""
    seen: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]] = []
    names = {m: name for name, m in module.named_modules()}

    def keep(m, inputs, output):
        seen.append((names[m], m, inputs[0].detach(), output))

    handles = [m.register_forward_hook(keep) for m in module.modules() if type(m) in LAYERWISE]
    try:
        loss = summed_loss()
    finally:
        for h in handles:
            h.remove()
    if len({id(m) for _, m, _, _ in seen}) != len(seen):
        return None
    backprops = torch.autograd.grad(loss, [out for *_, out in seen])
    terms = [
        (prefix, LAYERWISE[type(m)](m, a, d.detach(), rows_per_record)) for (prefix, m, a, _), d in zip(seen, backprops)
    ]
    norms = torch.stack([sq for _, (sq, _) in terms], 1).sum(1).sqrt()
    factors = clip_factors(norms, max_norm)
    out = {}
    for prefix, (_, layer_sum) in terms:
        for pname, g in layer_sum(factors).items():
            out[f"{prefix}.{pname}" if prefix else pname] = g
    return out


def noised_mean(
    summed: dict[str, torch.Tensor],
    order: list[str],
    stds: dict[str, float],
    expected_batch_size: int,
    secure_mode: bool = False,
) -> dict[str, torch.Tensor]:
    """(clipped sum + N(0, std^2)) / expected batch size, noise drawn in `order` as Opacus draws it; `stds`:
    {parameter: its group's std} (`group_stds`)."""
    return {
        name: gaussian_noise(stds[name], summed[name], secure_mode).add_(summed[name]).div_(expected_batch_size)
        for name in order  # in place on the fresh noise draw: no further buffer per parameter
    }
