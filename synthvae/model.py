"""The VAE: encoder and decoder as pure computation (the training loop lives elsewhere).

The decoder is TVAE's MLP from the latent to every encoded column's logits, plus, by default,
an autoregressive term over the table's columns (:class:`ColumnAutoregression`): column ``c``'s
logits also depend on the encoded values of the columns before it, so

    p(x | z) = prod_c p(x_c | z, x_1, ..., x_{c-1})

instead of TVAE's ``prod_c p(x_c | z)``. A factorized decoder must carry every dependence
between columns through the latent; a column that is (nearly) a function of another
(``education`` -> ``education-num``, a zip code -> its city) or a combination that never
occurs (``Husband`` & ``Female``) then leaks in a few percent of sampled rows, because each
column is drawn on its own given z. The autoregressive term learns those relations directly
(docs/training.md#the-decoder-decoder). Training is one pass with the real values of earlier columns
(teacher forcing); sampling draws the columns one after the other
(:mod:`synthvae.sampling`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn.functional import linear

SIGMA_MIN, SIGMA_MAX = 0.01, 1.0
LATENT_SWAP = 0.25  # Synthesizer's default latent_swap from LATENT_SWAP_MIN_ROWS rows on
# Below it the swap cost small tables more rules than it saved (docs/training.md).
LATENT_SWAP_MIN_ROWS = 5_000
# The masked layer reads a numeric column's value in standard units squashed smoothly into
# (-VALUE_BOUND, VALUE_BOUND): tails stay ordered but cannot swamp the units they feed.
VALUE_BOUND = 2.0


@dataclass
class ModelConfig:
    data_dim: int  # width of the encoded matrix
    n_scalars: int  # scalar spans: one learned sigma each
    latent_dim: int = 128  # TVAE's default
    hidden: tuple[int, ...] = field(default=(128, 128))  # TVAE's default
    sigma_init: float = 0.1  # TVAE's initial output sigma
    # Autoregressive decoder: each encoded position's drawing step (a column, or a number's
    # modes and then its scalar; None = TVAE's factorized decoder), and the width of its
    # masked hidden layer.
    column_rank: tuple[int, ...] | None = None
    autoregressive_hidden: int = 256
    # Share of each training batch whose latent term is another row's (detached): see
    # Decoder.forward. 0 in models saved before it.
    latent_swap: float = 0.0
    # Encoded positions whose latent term is never swapped: the scalar spans' (swapping
    # them fitted each numeric column's sigma to rows it was not decoded from). Empty in
    # models saved before it (every position was swapped).
    unswapped: tuple[int, ...] = ()
    # Autoregressive decoder: the scalar positions of the numeric columns whose value (in
    # the column's standard units, rebuilt from mode and scalar) the masked layer also
    # reads; see ColumnAutoregression. Empty in models saved before it.
    value_inputs: tuple[int, ...] = ()

    def __post_init__(self):
        if self.column_rank is None:
            if self.value_inputs:
                raise ValueError("value_inputs needs an autoregressive decoder (column_rank)")
            return
        if not isinstance(self.autoregressive_hidden, int) or self.autoregressive_hidden < 1:
            raise ValueError(f"autoregressive_hidden must be a positive int; got "
                             f"{self.autoregressive_hidden!r}")
        if not isinstance(self.latent_swap, (int, float)) or not 0 <= self.latent_swap < 1:
            raise ValueError(f"latent_swap must be a share in [0, 1); got {self.latent_swap!r}")
        if not all(isinstance(i, int) and 0 <= i < self.data_dim for i in self.unswapped):
            raise ValueError(f"unswapped must list encoded positions below {self.data_dim}; "
                             f"got {list(self.unswapped)[:8]}...")
        if not all(isinstance(i, int) and 0 <= i < self.data_dim for i in self.value_inputs) \
                or list(self.value_inputs) != sorted(set(self.value_inputs)):
            raise ValueError(f"value_inputs must list increasing encoded positions below "
                             f"{self.data_dim}; got {list(self.value_inputs)[:8]}...")
        rank = list(self.column_rank)
        if len({rank[i] for i in self.value_inputs if i < len(rank)}) != len(self.value_inputs):
            raise ValueError(f"value_inputs must name one position a column; got "
                             f"{list(self.value_inputs)[:8]}...")
        if len(rank) != self.data_dim or not all(isinstance(r, int) for r in rank) \
                or not contiguous_steps(rank):
            raise ValueError(f"column_rank must number the {self.data_dim} encoded columns' "
                             f"drawing steps 0, 1, ..., each one run of positions; got "
                             f"{rank[:8]}...")

    @property
    def autoregressive(self) -> bool:
        return self.column_rank is not None

    @property
    def decoder_kind(self) -> str:
        """The Synthesizer's ``decoder`` this configuration builds."""
        return "autoregressive" if self.autoregressive else "factorized"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out["unswapped"] = list(self.unswapped)
        out["value_inputs"] = list(self.value_inputs)
        if self.column_rank is not None:
            out["column_rank"] = list(self.column_rank)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        rank = data.get("column_rank")
        return cls(**dict(data, hidden=tuple(data["hidden"]),
                          column_rank=None if rank is None else tuple(rank),
                          unswapped=tuple(data.get("unswapped", ())),
                          value_inputs=tuple(data.get("value_inputs", ()))))


def contiguous_steps(rank: list[int]) -> bool:
    """Whether ``rank`` numbers drawing steps 0, 1, ..., each one run of positions, in
    position order but for a numeric column's scalar step, which comes just before the
    softmax step drawn before it (:func:`synthvae.generator.column_rank`): the runs are
    0, 1, 2, ... with some neighbours swapped, the first of each swapped pair one
    position."""
    runs: list[list[int]] = []  # [step, positions] of each run
    for r in rank:
        if runs and runs[-1][0] == r:
            runs[-1][1] += 1
        else:
            runs.append([r, 1])
    i = 0
    while i < len(runs):
        if runs[i][0] == i:
            i += 1
        elif runs[i] == [i + 1, 1] and i + 1 < len(runs) and runs[i + 1][0] == i:
            i += 2  # a one-position scalar step, then the step it follows
        else:
            return False
    return True


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.body = mlp([config.data_dim, *config.hidden])
        width = config.hidden[-1] if config.hidden else config.data_dim
        self.mu = nn.Linear(width, config.latent_dim)
        self.logvar = nn.Linear(width, config.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)  # (batch, hidden[-1])
        return self.mu(h), self.logvar(h).clamp(-20.0, 10.0)


class OutputSigma(nn.Module):
    """Per-column output sigma in (SIGMA_MIN, SIGMA_MAX), smooth in its parameter.

    Written as a bias-free ``Linear(1, n)`` applied to a column of ones, so per-sample
    gradient engines (Opacus) handle it like any linear layer (n = 0 on a table without
    numbers: see :class:`VAE` on empty layers).
    """

    def __init__(self, n: int, init: float):
        super().__init__()
        self.raw = nn.Linear(1, n, bias=False)
        p = (init - SIGMA_MIN) / (SIGMA_MAX - SIGMA_MIN)
        nn.init.constant_(self.raw.weight, float(torch.logit(torch.tensor(p))))

    def forward(self, ones: torch.Tensor) -> torch.Tensor:
        """(batch, 1) ones -> (batch, n) sigmas."""
        return SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * torch.sigmoid(self.raw(ones))


class ColumnAutoregression(nn.Module):
    """The logit term each encoded position gets from the columns drawn before its own.

    A masked ReLU layer (MADE, Germain et al. 2015): ``rank[p]`` is the drawing step of
    encoded position ``p`` (:func:`synthvae.generator.column_rank`: a column, or a numeric
    column's modes and then its scalar); hidden unit ``h`` has a degree ``d_h`` (a step),
    reads inputs of rank ``<= d_h`` and feeds outputs of rank ``> d_h``, so position ``p``'s
    term depends only on strictly earlier steps: a number's scalar reads its own mode. The
    output weights start at zero: training starts from TVAE's factorized decoder. (A linear
    term, one weight per pair of encoded positions, was measured too and kept far more
    broken rules: see benchmarks/results/structure.md.)

    **Values as inputs.** A numeric column is encoded as a mode (one-hot) and a scalar
    within it, ``(x - mean_k) / (4 std_k)``: read alone, the scalar means a different thing
    in every mode, and a unit sees the number itself only piecewise. For each column of
    ``value_inputs`` (its scalar's position) the layer also reads the value rebuilt from the
    encoding in the column's standard units, ``offset[k] + scale[k] * scalar`` for the
    drawn mode ``k`` (``value_offset`` / ``value_scale``, per encoded position: 0 outside
    the column's mode slots; set by :meth:`set_value_coefficients` from the fitted
    transformer, saved with the weights), squashed by :func:`bounded_value`. The value has
    its scalar's rank: it is known once the scalar is drawn.
    """

    def __init__(self, rank: tuple[int, ...], hidden: int, value_inputs: tuple[int, ...] = ()):
        super().__init__()
        position_rank = torch.tensor(rank, dtype=torch.long)
        n_columns = int(position_rank.max()) + 1
        self.register_buffer("rank", position_rank, persistent=False)
        # Degrees cycle over the ranks that have a later column to feed: 0 .. n_columns - 2.
        degree = torch.arange(hidden) % max(n_columns - 1, 1)
        self.register_buffer("degree", degree, persistent=False)
        scalars = torch.tensor(value_inputs, dtype=torch.long)
        self.register_buffer("value_scalars", scalars, persistent=False)  # (n_values,)
        if len(value_inputs):
            self.register_buffer("value_offset", torch.zeros(len(rank)))
            self.register_buffer("value_scale", torch.zeros(len(rank)))
            # the encoded positions of the value columns, and the value each belongs to
            members, numbers = value_members(position_rank, scalars)
            self.register_buffer("value_positions", members, persistent=False)
            self.register_buffer("value_numbers", numbers, persistent=False)
        input_rank = torch.cat([position_rank, position_rank[scalars]])
        self.inner = MaskedLinear((degree[:, None] >= input_rank[None, :]).float())
        self.outer = MaskedLinear(_mask(position_rank, degree), bias=False)
        nn.init.zeros_(self.outer.weight)

    @property
    def inner_mask(self) -> torch.Tensor:
        return self.inner.mask

    @property
    def mask(self) -> torch.Tensor:
        return self.outer.mask

    @property
    def n_values(self) -> int:
        return len(self.value_scalars)

    @torch.no_grad()
    def set_value_coefficients(self, offset: torch.Tensor, scale: torch.Tensor) -> None:
        """(width,) each mode slot's value offset and scalar scale (0 elsewhere)."""
        self.value_offset.copy_(offset)
        self.value_scale.copy_(scale)

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, width) encoded rows -> (batch, n_values) their numeric columns' values."""
        members = x.index_select(1, self.value_positions)  # the value columns' positions
        shape = (len(x), self.n_values)
        offset = x.new_zeros(shape).index_add_(
            1, self.value_numbers, members * self.value_offset[self.value_positions])
        scale = x.new_zeros(shape).index_add_(
            1, self.value_numbers, members * self.value_scale[self.value_positions])
        return bounded_value(offset + x.index_select(1, self.value_scalars) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, width) encoded rows -> (batch, width) logit terms."""
        if self.n_values:
            x = torch.cat([x, self.values(x)], 1)
        return self.outer(torch.relu(self.inner(x)))


def value_members(rank: torch.Tensor, scalars: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(the encoded positions of the value columns, the value each belongs to): a value's
    scalar and the positions of its column: the scalar's step, and the softmax step drawn
    just before it when the scalar is a step of its own (a model file before the two-step
    numbers has the scalar and modes in one step)."""
    steps = int(rank.max()) + 1
    sizes = torch.zeros(steps, dtype=torch.long).index_add_(0, rank, torch.ones_like(rank))
    scalar_step = rank[scalars]
    after = rank[(scalars + 1).clamp(max=len(rank) - 1)]  # the step of the next position
    alone = (sizes[scalar_step] == 1) & (scalars + 1 < len(rank)) & (after == scalar_step - 1)
    own = torch.where(alone, scalar_step - 1, scalar_step)
    number = torch.full((steps,), -1, dtype=torch.long)
    number[own] = torch.arange(len(scalars))
    member_of = number[rank]
    member_of[scalars] = torch.arange(len(scalars))
    members = torch.nonzero(member_of >= 0).squeeze(1)
    return members, member_of[members]


def bounded_value(value: torch.Tensor) -> torch.Tensor:
    """A value in standard units as the masked layer reads it: ``B tanh(value / B)`` with
    ``B = VALUE_BOUND``, about the value itself within one unit of the mean."""
    return VALUE_BOUND * torch.tanh(value / VALUE_BOUND)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` (out, in).

    Its own class, so that per-sample gradient engines do not take it for a plain
    ``nn.Linear``: under DP, synthvae.privacy registers its per-row gradient norm. The mask
    follows from the column order, so it is not saved; it is a plain tensor attribute that
    moves with the layer (``_apply``), not a buffer: Opacus refuses trainable layers that
    hold buffers (they could carry state between rows)."""

    def __init__(self, mask: torch.Tensor, bias: bool = True):
        super().__init__(mask.shape[1], mask.shape[0], bias=bias)
        self.mask = mask

    def _apply(self, fn, recurse: bool = True):
        self.mask = fn(self.mask)
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight * self.mask, self.bias)


def _mask(out_rank: torch.Tensor, in_rank: torch.Tensor) -> torch.Tensor:
    """(out, in) 1 where an output of rank r may read an input of rank < r."""
    return (in_rank[None, :] < out_rank[:, None]).float()


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = list(reversed(config.hidden))
        self.body = mlp([config.latent_dim, *hidden])
        self.out = nn.Linear(hidden[-1] if hidden else config.latent_dim, config.data_dim)
        self.sigma = OutputSigma(config.n_scalars, config.sigma_init)
        self.autoregression = ColumnAutoregression(config.column_rank,
                                                   config.autoregressive_hidden,
                                                   config.value_inputs) \
            if config.autoregressive else None
        self.latent_swap = config.latent_swap
        swapped = torch.ones(config.data_dim, dtype=torch.bool)
        swapped[list(config.unswapped)] = False
        self.register_buffer("swapped_positions", swapped, persistent=False)

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, data_dim) raw logits of the rows ``x`` given their latents ``z``.

        An autoregressive decoder needs ``x`` (the real values of earlier columns: teacher
        forcing); without it only the latent's part is returned (what sampling starts from).
        In training, the first ``latent_swap`` share of the batch (its rows are shuffled)
        gets the latent term of the row before it, detached, at every position but the
        config's ``unswapped`` ones: those rows are reconstructed from their own earlier
        columns beside a latent that disagrees with them, as rows drawn from the prior
        often are, so the autoregressive term learns to overrule it.
        """
        logits = self.out(self.body(z))
        if self.autoregression is None or x is None:
            return logits
        if self.training and self.latent_swap > 0:
            logits = self._swapped(logits, int(len(z) * self.latent_swap))
        return logits + self.autoregression(x)

    def _swapped(self, logits: torch.Tensor, rows: int) -> torch.Tensor:
        """``logits`` whose first ``rows`` rows take the row before's latent term (detached)
        at the swapped positions."""
        head = logits[:rows]
        head = torch.where(self.swapped_positions, head.roll(1, 0).detach(), head)
        return torch.cat([head, logits[rows:]])


class VAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        with warnings.catch_warnings():  # empty layers (a table without numbers, or with
            # nothing modelled: only constants and identifiers) have no weights to set
            warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
            self.encoder = Encoder(config)
            self.decoder = Decoder(config)

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        """Encode, reparameterize with the given standard-normal ``noise``, decode.

        Returns (logits (batch, width), sigma (batch, n_scalars), mu, logvar).
        """
        mu, logvar = self.encoder(x)
        z = mu + noise * torch.exp(0.5 * logvar)
        sigma = self.decoder.sigma(x.new_ones((len(x), 1)))
        return self.decoder(z, x), sigma, mu, logvar
