"""The reference-weights fixture (../shared/data/deoldify_compat): its key lists, its input/output pair and
its FILL RULE, which stands in for the released weights that cannot be had here. Test helper, not library code."""
import json

import numpy as np
import torch

SEED = 20261121


def fixture_keys(folder, preset):
    "[(key, shape, dtype)] in the reference's state_dict order."
    return [(k, tuple(shape), dtype) for k, shape, dtype in json.loads((folder / f'{preset}_keys.json').read_text())]


def fixture_io(folder, preset):
    with np.load(folder / f'{preset}_io.npz') as z:
        return torch.from_numpy(z['input']), torch.from_numpy(z['output'])


def _spectral_vectors(w):
    "The fixture's power iteration in float64: v from ones/sqrt(n), 10 rounds, then a last u."
    W = w.reshape(w.shape[0], -1).astype(np.float64)
    v = np.ones(W.shape[1]) / np.sqrt(W.shape[1])
    for _ in range(10):
        u = W @ v
        u /= np.linalg.norm(u)
        v = W.T @ u
        v /= np.linalg.norm(v)
    u = W @ v
    u /= np.linalg.norm(u)
    return u.astype(np.float32), v.astype(np.float32)


def filled_state_dict(keys):
    """The fixture's weights: numpy default_rng(SEED), drawing only for drawn tensors in key order; spectral
    u, v computed after all draws from their weight_orig."""
    rng = np.random.default_rng(SEED)
    names = {k for k, _, _ in keys}
    out, spectral = {}, []
    for key, shape, _ in keys:
        stem = key.rsplit('.', 1)[0]
        if key.endswith('num_batches_tracked'):
            out[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        if key.endswith(('.weight_u', '.weight_v')) and f'{stem}.weight_orig' in names:
            if key.endswith('.weight_u'):
                spectral.append(stem)
            continue
        if key.endswith('running_mean'):
            a = rng.normal(0, 0.1, shape)
        elif key.endswith('running_var'):
            a = rng.uniform(0.5, 1.5, shape)
        elif key.endswith('.weight_g'):
            a = rng.uniform(0.5, 1.0, shape)
        elif len(shape) >= 2:
            a = rng.normal(0, 1, shape) / np.sqrt(np.prod(shape[1:]))
        elif key.endswith('.bias'):
            a = rng.normal(0, 0.01, shape)
        elif key.endswith('.weight') and len(shape) == 1:
            a = rng.uniform(0.5, 1.5, shape)
        else:
            a = rng.normal(0, 0.1, shape)
        out[key] = torch.from_numpy(np.asarray(a, dtype=np.float32).reshape(shape))
    for stem in spectral:
        u, v = _spectral_vectors(out[f'{stem}.weight_orig'].numpy())
        out[f'{stem}.weight_u'], out[f'{stem}.weight_v'] = torch.from_numpy(u), torch.from_numpy(v)
    return {k: out[k] for k, _, _ in keys}
