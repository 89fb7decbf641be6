"""A literal, token-by-token implementation of the Titans memory update, the tests' ground truth."""

import torch


def token_by_token(memory_fn, params, keys, values, queries, lr, momentum, forget, chunk_size, surprise=None):
    """DESIGN.md's semantics written as loops: one sequence, one chunk, one token at a time."""
    batch, length, _ = keys.shape
    outputs, weights_out, surprise_out = [], [], []
    for b in range(batch):
        w = {n: p[b] for n, p in params.items()}
        s = {n: (surprise[n][b] if surprise is not None else torch.zeros_like(p[b])) for n, p in params.items()}
        read = []
        for start in range(0, length, chunk_size):
            w_chunk = dict(w)
            for i in range(start, min(start + chunk_size, length)):
                read.append(memory_fn(w_chunk, queries[b, i]))
                def loss(p, b=b, i=i):
                    return (memory_fn(p, keys[b, i]) - values[b, i]).square().sum()

                u = torch.func.grad(loss)(w_chunk)
                s = {n: momentum[b, i] * s[n] - lr[b, i] * u[n] for n in s}
                w = {n: (1 - forget[b, i]) * w[n] + s[n] for n in w}
        outputs.append(torch.stack(read) if read else values.new_zeros(0, values.shape[-1]))
        weights_out.append(w)
        surprise_out.append(s)
    stack = lambda states: {n: torch.stack([st[n] for st in states]) for n in params}  # noqa: E731
    return torch.stack(outputs), stack(weights_out), stack(surprise_out)
