"""Exact k-nearest-neighbour search by blocked matrix products on the CPU (torch).

Squared distances come from ``|q|^2 + |r|^2 - 2 q.r`` one block of query rows at a time, so
memory stays near ``BLOCK_ELEMENTS`` floats whatever the table sizes. That identity loses
precision for near-identical rows, so the distances of the chosen neighbours are recomputed
directly: an exact copy is at distance 0, not 1e-3.
"""

from __future__ import annotations

import numpy as np
import torch

BLOCK_ELEMENTS = 1 << 25  # 32 M float32 distances (128 MB) per block


def nearest(query: np.ndarray, reference: np.ndarray, k: int = 1
            ) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``k`` nearest reference rows: two (n_query, k) arrays."""
    k = min(k, len(reference))
    center = reference.mean(axis=0, keepdims=True)  # centring keeps the products small
    ref = torch.from_numpy(np.ascontiguousarray(reference - center, dtype=np.float32))
    qry = torch.from_numpy(np.ascontiguousarray(query - center, dtype=np.float32))
    ref_sq = (ref * ref).sum(dim=1)  # (n_ref,)
    rows = max(1, BLOCK_ELEMENTS // max(1, len(ref)))
    dists, index = [], []
    with torch.no_grad():
        for start in range(0, len(qry), rows):
            block_d, block_i = _block_nearest(qry[start:start + rows], ref, ref_sq, k)
            dists.append(block_d)
            index.append(block_i)
    if not dists:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return torch.cat(dists).numpy(), torch.cat(index).numpy()


def _block_nearest(block: torch.Tensor, ref: torch.Tensor, ref_sq: torch.Tensor, k: int):
    # |q|^2 is the same for a whole row, so it is left out of the ranking: (rows, n_ref)
    ranking = torch.addmm(ref_sq.unsqueeze(0), block, ref.T, alpha=-2.0)
    if k == 1:
        index = ranking.argmin(dim=1, keepdim=True)  # (rows, 1), faster than topk
    else:
        index = torch.topk(ranking, k, dim=1, largest=False).indices  # (rows, k)
    exact = torch.linalg.vector_norm(block.unsqueeze(1) - ref[index], dim=2)  # (rows, k)
    exact, order = torch.sort(exact, dim=1)
    return exact, torch.gather(index, 1, order)


def nearest_distance(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n_query,) distance of each query row to its nearest reference row."""
    return nearest(query, reference, k=1)[0][:, 0]
