"""Products with the Nyström Gaussian kernel block K_NM, stored or recomputed in tiles (torch).

The kernel is k(x, c) = exp(-||x - c||^2 / (2 sigma^2)) (falkon's ``GaussianKernel``). Every
Newton-CG iteration of the NPLM solver needs ``K_NM v`` and ``K_MN (d * K_NM v)``. The cost
analysis of ``reference/nplm_falkon.md`` (Secs. 11, 13) drives the choices here:

- when ``N * M`` float64 entries fit the memory cap, K_NM is built once and stored, and each
  CG iteration becomes memory-bound matrix-vector products (falkon recomputes the kernel on
  every pass: two exponentials of N x M entries per CG iteration);
- otherwise K_NM is recomputed tile by tile, and the Hessian product is *fused*: each tile is
  exponentiated once and used for both ``K_tile v`` and ``K_tile^T (d * K_tile v)``, half of
  falkon's exponential work;
- several widths on the same centres share the squared distances (stored once when the cap
  allows both them and one kernel).

Everything stays in float64: K_MM is numerically rank-deficient at the usual widths and the
preconditioner's ``T^{-1}`` amplifies any rounding of K_NM (Sec. 12 of the reference).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["NystromKernel", "SquaredDistances", "gaussian_kernel", "DEFAULT_MAX_MEMORY"]

#: Default memory cap (bytes) for stored kernel matrices: 8 GiB.
DEFAULT_MAX_MEMORY = 8 * 2**30

# Rows per tile: about 4 MiB of float64 at M = 2000, small enough to stay in cache between the
# two products of a fused pass, large enough that per-tile Python overhead is negligible.
_TILE_BYTES = 4 * 2**20


def _tile_rows(n_centers: int, itemsize: int = 8) -> int:
    return max(64, _TILE_BYTES // max(1, n_centers * itemsize))


_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None


def _pool(workers: int) -> ThreadPoolExecutor:
    # One process-wide pool, grown on demand: a pool per fit would leave idle threads behind in
    # toy loops that fit thousands of kernels.
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nhtad-kernel")
        return _POOL


def gaussian_kernel(X, C, sigma: float):
    """Dense Gaussian kernel ``exp(-||x - c||^2 / (2 sigma^2))``, shape (len(X), len(C))."""
    return NystromKernel(SquaredDistances(X, C, store=False), sigma, store=True).matrix


class SquaredDistances:
    """Squared distances between N points and M centres, stored when ``store`` is True.

    ``||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c`` is one GEMM of augmented matrices,
    [x, ||x||^2, 1] . [-2c, 1, ||c||^2], so a kernel tile costs a GEMM, a clamp and an exp and
    no temporary: the Gaussian's -1/(2 sigma^2) is folded into the centres' side.

    Parameters
    ----------
    X : torch.Tensor of shape (N, d)
    C : torch.Tensor of shape (M, d)
    store : bool
        Keep the full (N, M) matrix so that kernels at several widths skip the distance GEMM.
    """

    def __init__(self, X, C, *, store: bool):
        self.X, self.C = X, C
        self.points = torch.cat([X, (X * X).sum(1, keepdim=True), X.new_ones(X.shape[0], 1)], 1)
        self.centres = torch.cat(
            [-2.0 * C, C.new_ones(C.shape[0], 1), (C * C).sum(1, keepdim=True)], 1
        )
        self.tile = _tile_rows(C.shape[0])
        self.matrix = None
        if store:
            self.matrix = torch.empty((X.shape[0], C.shape[0]), dtype=X.dtype, device=X.device)
            centres_t = self.centres.T.contiguous()
            for start in range(0, X.shape[0], self.tile):
                stop = start + self.tile
                torch.mm(self.points[start:stop], centres_t, out=self.matrix[start:stop])
            # Cancellation in the expansion can leave tiny negative distances.
            self.matrix.clamp_min_(0.0)

    @property
    def shape(self):
        return (self.X.shape[0], self.C.shape[0])

    def scaled_centres(self, scale: float):
        """The centres' side of the augmented GEMM times ``scale``, transposed for ``mm``."""
        return (scale * self.centres).T.contiguous()

    def kernel_tile_into(self, out, start: int, stop: int, scale: float, scaled_centres):
        """Write exp(scale * distance) of rows ``start:stop`` into ``out`` (scale < 0).

        ``scaled_centres`` is ``self.scaled_centres(scale)``, computed once by the caller.
        """
        if self.matrix is not None:
            torch.mul(self.matrix[start:stop], scale, out=out)
        else:
            torch.mm(self.points[start:stop], scaled_centres, out=out)
            out.clamp_max_(0.0)
        return out.exp_()


class NystromKernel:
    """The block K_NM = k(X, C) at one width, with the products the Newton-CG solver needs.

    Parameters
    ----------
    distances : SquaredDistances
        Points, centres and (maybe stored) squared distances.
    sigma : float
        Gaussian width.
    store : bool
        Build K_NM once and keep it (``8 N M`` bytes); otherwise recompute tiles on every pass.
    buffer : torch.Tensor or None
        Preallocated (N, M) storage to reuse across widths when ``store`` is True.
    """

    def __init__(self, distances: SquaredDistances, sigma: float, *, store: bool, buffer=None):
        self.distances = distances
        self.sigma = float(sigma)
        self.scale = -0.5 / self.sigma**2
        self._scaled_centres = distances.scaled_centres(self.scale)
        self.tile = distances.tile
        n, m = distances.shape
        self.n_points, self.n_centers = n, m
        X = distances.X
        self.dtype, self.device = X.dtype, X.device
        # On CPU the per-tile products are matrix-vector products that torch runs on one thread;
        # splitting the rows between Python threads (torch releases the GIL) uses every core.
        self.workers = 1 if X.device.type != "cpu" else max(1, torch.get_num_threads())
        self.matrix = None
        self._work = []
        if store:
            matrix = (
                buffer
                if buffer is not None
                else torch.empty((n, m), dtype=X.dtype, device=X.device)
            )
            self.matrix = matrix
            self._map_row_blocks(self._build_block)
        else:
            self._work = [
                torch.empty((self.tile, m), dtype=X.dtype, device=X.device)
                for _ in range(self.workers)
            ]

    @property
    def stored(self) -> bool:
        return self.matrix is not None

    def _tiles(self, lo=0, hi=None):
        hi = self.n_points if hi is None else hi
        for start in range(lo, hi, self.tile):
            yield start, min(start + self.tile, hi)

    def _map_row_blocks(self, fn):
        """``[fn(lo, hi, worker) ...]`` over contiguous, tile-aligned row blocks, one per worker.

        The blocks and the order of the returned list do not depend on thread timing, so sums
        of the results are reproducible for a given number of torch threads.
        """
        n_tiles = -(-self.n_points // self.tile)
        workers = min(self.workers, n_tiles)
        if workers == 1:
            return [fn(0, self.n_points, 0)]
        per = -(-n_tiles // workers)
        bounds = [min(k * per * self.tile, self.n_points) for k in range(workers + 1)]
        futures = [_pool(workers).submit(fn, bounds[k], bounds[k + 1], k) for k in range(workers)]
        return [future.result() for future in futures]

    def _build_block(self, lo, hi, worker):
        for start, stop in self._tiles(lo, hi):
            self.distances.kernel_tile_into(
                self.matrix[start:stop], start, stop, self.scale, self._scaled_centres
            )

    def _tile(self, start, stop, worker):
        if self.matrix is not None:
            return self.matrix[start:stop]
        work = self._work[worker][: stop - start]
        return self.distances.kernel_tile_into(work, start, stop, self.scale, self._scaled_centres)

    def matvec(self, v):
        """K_NM v for v of shape (M,) or (M, k)."""
        if self.matrix is not None:
            return self.matrix @ v
        out = torch.empty((self.n_points, *v.shape[1:]), dtype=self.dtype, device=self.device)

        def block(lo, hi, worker):
            for start, stop in self._tiles(lo, hi):
                torch.matmul(self._tile(start, stop, worker), v, out=out[start:stop])

        self._map_row_blocks(block)
        return out

    def _sum_over_tiles(self, contribution, like):
        """Sum of ``contribution(start, stop, worker)`` over all row tiles.

        Each tile's term lands in its own row of a (n_tiles, ...) buffer and the rows are summed
        by torch's cascade reduction: the result does not depend on how many threads shared the
        tiles, and its rounding grows like log(n_tiles) rather than n_tiles. Both matter because
        the recipe's truncated CG turns rounding in these sums into differences in t.
        """
        n_tiles = -(-self.n_points // self.tile)
        terms = like.new_empty((n_tiles, *like.shape))

        def block(lo, hi, worker):
            for start, stop in self._tiles(lo, hi):
                terms[start // self.tile] = contribution(start, stop, worker)

        self._map_row_blocks(block)
        return terms.sum(0)

    def rmatvec(self, u):
        """K_MN u for u of shape (N,) or (N, k)."""
        if self.matrix is not None:
            return self.matrix.T @ u
        like = u.new_empty((self.n_centers, *u.shape[1:]))
        return self._sum_over_tiles(
            lambda start, stop, worker: self._tile(start, stop, worker).T @ u[start:stop], like
        )

    def hessvec(self, v, curvature):
        """K_MN (curvature * K_NM v) in one pass over the tiles (each tile read or built once)."""
        if self.matrix is not None and self.device.type != "cpu":
            # On a GPU the tile loop's hundreds of small launches cost far more than the two
            # bandwidth-bound products over the stored matrix.
            return self.matrix.T @ (curvature * (self.matrix @ v))

        def term(start, stop, worker):
            tile = self._tile(start, stop, worker)
            return tile.T @ (curvature[start:stop] * (tile @ v))

        return self._sum_over_tiles(term, v)
