"""Recurrent layers: LSTM, GRU and RNN, run one time step at a time so autograd follows them.

Each direction precomputes the input projection of every time step at once and then loops over
the steps. ``sequence_lens`` masks the steps past a row's length: its state stops changing and
``Y`` holds zeros there, as in onnxruntime; in reverse the row starts at its own last step.
Activation names, their ``activation_alpha``/``activation_beta`` consumption and defaults
follow onnxruntime (``core/providers/cpu/rnn/rnn_helpers.cc``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op
from robustcheck.errors import UnsupportedModelError

Activation = Callable[[Tensor], Tensor]
Cell = Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, ...]]

# Whether each activation consumes an alpha and a beta, and the values it takes when the
# attribute lists run out.
_USES_ALPHA_BETA: dict[str, tuple[bool, bool]] = {
    "affine": (True, True),
    "elu": (True, False),
    "hardsigmoid": (True, True),
    "leakyrelu": (True, False),
    "relu": (False, False),
    "scaledtanh": (True, True),
    "sigmoid": (False, False),
    "softplus": (False, False),
    "softsign": (False, False),
    "tanh": (False, False),
    "thresholdedrelu": (True, False),
}
_DEFAULT_ALPHA_BETA: dict[str, tuple[float, float]] = {
    "elu": (1.0, 0.0),
    "hardsigmoid": (0.2, 0.5),
    "leakyrelu": (0.01, 0.0),
}

_DIRECTIONS: dict[str, tuple[bool, ...]] = {
    "forward": (False,),
    "reverse": (True,),
    "bidirectional": (False, True),
}


def _activation(name: str, alpha: float, beta: float) -> Activation:
    functions: dict[str, Activation] = {
        "affine": lambda x: alpha * x + beta,
        "elu": lambda x: F.elu(x, alpha),
        "hardsigmoid": lambda x: torch.clamp(alpha * x + beta, 0.0, 1.0),
        "leakyrelu": lambda x: F.leaky_relu(x, alpha),
        "relu": torch.relu,
        "scaledtanh": lambda x: alpha * torch.tanh(beta * x),
        "sigmoid": torch.sigmoid,
        "softplus": F.softplus,
        "softsign": F.softsign,
        "tanh": torch.tanh,
        "thresholdedrelu": lambda x: torch.where(x > alpha, x, torch.zeros_like(x)),
    }
    return functions[name]


def _activations(
    op_type: str,
    names: Sequence[str] | None,
    alphas: Sequence[float] | None,
    betas: Sequence[float] | None,
    defaults: tuple[str, ...],
    directions: int,
) -> list[list[Activation]]:
    """One list of activation functions per direction, ``len(defaults)`` in each."""
    per_direction = len(defaults)
    listed = list(names) if names else list(defaults) * directions
    if len(listed) == per_direction and directions == 2:
        listed = listed * 2
    # RNN's schema default lists two activations, meant for the bidirectional case.
    listed = listed[: per_direction * directions]
    if len(listed) != per_direction * directions:
        raise UnsupportedModelError(
            f"{op_type} lists {len(listed)} activation(s); it needs {per_direction} per direction"
        )
    alpha_queue, beta_queue = list(alphas or []), list(betas or [])
    functions = []
    for name in listed:
        key = name.lower()
        if key not in _USES_ALPHA_BETA:
            raise UnsupportedModelError(f"{op_type} activation {name!r} is not an ONNX activation")
        uses_alpha, uses_beta = _USES_ALPHA_BETA[key]
        alpha, beta = _DEFAULT_ALPHA_BETA.get(key, (0.0, 0.0))
        if uses_alpha and alpha_queue:
            alpha = alpha_queue.pop(0)
        if uses_beta and beta_queue:
            beta = beta_queue.pop(0)
        functions.append(_activation(key, alpha, beta))
    return [functions[d * per_direction : (d + 1) * per_direction] for d in range(directions)]


def _clipped(activation: Activation, clip: float | None) -> Activation:
    if clip is None:
        return activation
    return lambda x: activation(torch.clamp(x, -clip, clip))


def _direction_flags(op_type: str, direction: str) -> tuple[bool, ...]:
    if direction not in _DIRECTIONS:
        raise UnsupportedModelError(
            f"{op_type} direction {direction!r} is not forward, reverse or bidirectional"
        )
    return _DIRECTIONS[direction]


def _check_layout(op_type: str, layout: int) -> None:
    if layout not in (0, 1):
        raise UnsupportedModelError(f"{op_type} layout={layout} is not 0 or 1")


def _check_hidden_size(op_type: str, hidden_size: int | None, r: Tensor) -> int:
    hidden = r.shape[-1]
    if hidden_size is not None and hidden_size != hidden:
        raise UnsupportedModelError(
            f"{op_type} hidden_size={hidden_size} disagrees with R's shape {list(r.shape)}"
        )
    return hidden


def _initial_state(
    state: Tensor | None, layout: int, directions: int, batch: int, hidden: int, like: Tensor
) -> Tensor:
    """``[num_directions, batch, hidden]``, zeros when the input is absent."""
    if state is None:
        return like.new_zeros(directions, batch, hidden)
    state = state.to(like.dtype)
    return state.transpose(0, 1) if layout == 1 else state


def _step_mask(sequence_lens: Tensor | None, x: Tensor) -> Tensor | None:
    """``[seq, batch, 1]``: whether each row of sequence-first ``x`` is still inside its
    sequence at each step."""
    if sequence_lens is None:
        return None
    steps, batch = x.shape[0], x.shape[1]
    lengths = sequence_lens.to(device=x.device, dtype=torch.int64).reshape(-1).expand(batch)
    positions = torch.arange(steps, device=lengths.device).unsqueeze(1)
    return (positions < lengths.unsqueeze(0)).unsqueeze(-1)


def _scan(
    cell: Cell,
    projected: Tensor,
    states: tuple[Tensor, ...],
    reverse: bool,
    mask: Tensor | None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``cell`` over the steps; the hidden state of each step, and the final states."""
    steps = projected.shape[0]
    outputs: list[Tensor] = [states[0]] * steps
    for t in reversed(range(steps)) if reverse else range(steps):
        updated = cell(projected[t], states)
        if mask is None:
            outputs[t] = updated[0]
        else:
            inside = mask[t]
            updated = tuple(
                torch.where(inside, new, old) for new, old in zip(updated, states, strict=True)
            )
            outputs[t] = torch.where(inside, updated[0], torch.zeros_like(updated[0]))
        states = updated
    if mask is not None:
        # onnxruntime reports zero final states, not the initial ones, for an empty row.
        started = mask.any(dim=0)
        states = tuple(torch.where(started, s, torch.zeros_like(s)) for s in states)
    return torch.stack(outputs), states


def _sequence_first(x: Tensor, layout: int) -> Tensor:
    return x.transpose(0, 1) if layout == 1 else x


def _outputs(ys: list[Tensor], finals: list[list[Tensor]], layout: int) -> tuple[Tensor, ...]:
    """``Y`` and each final state stacked over directions, in the node's layout."""
    y = torch.stack(ys, dim=1)  # [seq, num_directions, batch, hidden]
    states = [torch.stack(per_direction) for per_direction in finals]
    if layout == 1:
        return (y.permute(2, 0, 1, 3), *(s.transpose(0, 1) for s in states))
    return (y, *states)


def _bias_halves(b: Tensor | None, d: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """The input (``Wb``) and recurrence (``Rb``) biases of direction ``d``."""
    if b is None:
        zeros = like.new_zeros(width)
        return zeros, zeros
    row = b[d].to(like.dtype)
    return row[:width], row[width:]


@dataclass(frozen=True)
class _Setup:
    """What every recurrent op derives from its inputs and attributes before its time loop."""

    x: Tensor
    """The input, sequence first."""
    flags: tuple[bool, ...]
    """Per direction: whether it runs in reverse."""
    hidden: int
    functions: list[list[Activation]]
    """Per direction, the op's activations in order."""
    mask: Tensor | None
    """Which rows are still within their ``sequence_lens`` at each step."""
    layout: int

    def initial(self, state: Tensor | None) -> Tensor:
        """An initial state input as ``[num_directions, batch, hidden]`` (zeros when absent)."""
        return _initial_state(
            state, self.layout, len(self.flags), self.x.shape[1], self.hidden, self.x
        )


def _setup(
    op_type: str,
    x: Tensor,
    r: Tensor,
    sequence_lens: Tensor | None,
    *,
    activations: Sequence[str] | None,
    activation_alpha: Sequence[float] | None,
    activation_beta: Sequence[float] | None,
    defaults: tuple[str, ...],
    direction: str,
    hidden_size: int | None,
    layout: int,
) -> _Setup:
    _check_layout(op_type, layout)
    flags = _direction_flags(op_type, direction)
    hidden = _check_hidden_size(op_type, hidden_size, r)
    functions = _activations(
        op_type, activations, activation_alpha, activation_beta, defaults, len(flags)
    )
    x = _sequence_first(x, layout)
    return _Setup(x, flags, hidden, functions, _step_mask(sequence_lens, x), layout)


@op("LSTM", 7)
@op("LSTM", 14)
def lstm(
    x: Tensor,
    w: Tensor,
    r: Tensor,
    b: Tensor | None = None,
    sequence_lens: Tensor | None = None,
    initial_h: Tensor | None = None,
    initial_c: Tensor | None = None,
    p: Tensor | None = None,
    *,
    activation_alpha: Sequence[float] | None = None,
    activation_beta: Sequence[float] | None = None,
    activations: Sequence[str] | None = None,
    clip: float | None = None,
    direction: str = "forward",
    hidden_size: int | None = None,
    input_forget: int = 0,
    layout: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gates in ``iofc`` order, peepholes in ``iof`` order; ``input_forget`` couples the
    forget gate to the input gate (``f = 1 - i``)."""
    run = _setup(
        "LSTM", x, r, sequence_lens,
        activations=activations, activation_alpha=activation_alpha,
        activation_beta=activation_beta, defaults=("Sigmoid", "Tanh", "Tanh"),
        direction=direction, hidden_size=hidden_size, layout=layout,
    )  # fmt: skip
    x, hidden, functions, mask = run.x, run.hidden, run.functions, run.mask
    h0, c0 = run.initial(initial_h), run.initial(initial_c)
    ys, finals_h, finals_c = [], [], []
    for d, reverse in enumerate(run.flags):
        wb, rb = _bias_halves(b, d, 4 * hidden, x)
        projected = torch.matmul(x, w[d].to(x.dtype).t()) + (wb + rb)
        peepholes = None if p is None else p[d].to(x.dtype).split(hidden)
        # onnxruntime clips the gates' inputs but not the cell state that h() reads.
        f, g = (_clipped(fn, clip) for fn in functions[d][:2])
        h = functions[d][2]
        cell = _lstm_cell(r[d].to(x.dtype), peepholes, f, g, h, bool(input_forget))
        y, (h_last, c_last) = _scan(cell, projected, (h0[d], c0[d]), reverse, mask)
        ys.append(y)
        finals_h.append(h_last)
        finals_c.append(c_last)
    y_all, y_h, y_c = _outputs(ys, [finals_h, finals_c], layout)
    return y_all, y_h, y_c


def _lstm_cell(
    r: Tensor,
    peepholes: Sequence[Tensor] | None,
    f: Activation,
    g: Activation,
    h: Activation,
    input_forget: bool,
) -> Cell:
    recurrence = r.t()

    def cell(projected: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        h_prev, c_prev = states
        gates = projected + torch.matmul(h_prev, recurrence)
        i, o, forget, c = gates.chunk(4, dim=-1)
        if peepholes is not None:
            i = i + peepholes[0] * c_prev
            forget = forget + peepholes[2] * c_prev
        i = f(i)
        forget = 1 - i if input_forget else f(forget)
        c_new = forget * c_prev + i * g(c)
        if peepholes is not None:
            o = o + peepholes[1] * c_new
        return f(o) * h(c_new), c_new

    return cell


@op("GRU", 7)
@op("GRU", 14)
def gru(
    x: Tensor,
    w: Tensor,
    r: Tensor,
    b: Tensor | None = None,
    sequence_lens: Tensor | None = None,
    initial_h: Tensor | None = None,
    *,
    activation_alpha: Sequence[float] | None = None,
    activation_beta: Sequence[float] | None = None,
    activations: Sequence[str] | None = None,
    clip: float | None = None,
    direction: str = "forward",
    hidden_size: int | None = None,
    layout: int = 0,
    linear_before_reset: int = 0,
) -> tuple[Tensor, Tensor]:
    """Gates in ``zrh`` order; ``linear_before_reset`` applies the reset gate after the
    recurrence of the hidden gate (cuDNN's and torch's form) instead of before it."""
    run = _setup(
        "GRU", x, r, sequence_lens,
        activations=activations, activation_alpha=activation_alpha,
        activation_beta=activation_beta, defaults=("Sigmoid", "Tanh"),
        direction=direction, hidden_size=hidden_size, layout=layout,
    )  # fmt: skip
    x, hidden, functions, mask = run.x, run.hidden, run.functions, run.mask
    h0 = run.initial(initial_h)
    ys, finals = [], []
    for d, reverse in enumerate(run.flags):
        wb, rb = _bias_halves(b, d, 3 * hidden, x)
        if linear_before_reset:
            # The hidden gate's recurrence bias is scaled by the reset gate, so it stays out.
            folded, rb_hidden = wb + torch.cat([rb[: 2 * hidden], rb.new_zeros(hidden)]), rb
        else:
            folded, rb_hidden = wb + rb, None
        projected = torch.matmul(x, w[d].to(x.dtype).t()) + folded
        f, g = (_clipped(fn, clip) for fn in functions[d])
        cell = _gru_cell(r[d].to(x.dtype), rb_hidden, hidden, f, g)
        y, (h_last,) = _scan(cell, projected, (h0[d],), reverse, mask)
        ys.append(y)
        finals.append(h_last)
    y_all, y_h = _outputs(ys, [finals], layout)
    return y_all, y_h


def _gru_cell(r: Tensor, rb: Tensor | None, hidden: int, f: Activation, g: Activation) -> Cell:
    """``rb`` is the recurrence bias when ``linear_before_reset`` is set, else None."""
    gates_recurrence = r[: 2 * hidden].t()
    hidden_recurrence = r[2 * hidden :].t()

    def cell(projected: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        (h_prev,) = states
        update_reset = projected[:, : 2 * hidden] + torch.matmul(h_prev, gates_recurrence)
        z, reset = f(update_reset).chunk(2, dim=-1)
        if rb is None:
            candidate = torch.matmul(reset * h_prev, hidden_recurrence)
        else:
            candidate = reset * (torch.matmul(h_prev, hidden_recurrence) + rb[2 * hidden :])
        h_candidate = g(projected[:, 2 * hidden :] + candidate)
        return ((1 - z) * h_candidate + z * h_prev,)

    return cell


@op("RNN", 7)
@op("RNN", 14)
def rnn(
    x: Tensor,
    w: Tensor,
    r: Tensor,
    b: Tensor | None = None,
    sequence_lens: Tensor | None = None,
    initial_h: Tensor | None = None,
    *,
    activation_alpha: Sequence[float] | None = None,
    activation_beta: Sequence[float] | None = None,
    activations: Sequence[str] | None = ("Tanh", "Tanh"),
    clip: float | None = None,
    direction: str = "forward",
    hidden_size: int | None = None,
    layout: int = 0,
) -> tuple[Tensor, Tensor]:
    """``Ht = f(Xt*(Wi^T) + Ht-1*(Ri^T) + Wbi + Rbi)``."""
    run = _setup(
        "RNN", x, r, sequence_lens,
        activations=activations, activation_alpha=activation_alpha,
        activation_beta=activation_beta, defaults=("Tanh",),
        direction=direction, hidden_size=hidden_size, layout=layout,
    )  # fmt: skip
    x, hidden, functions, mask = run.x, run.hidden, run.functions, run.mask
    h0 = run.initial(initial_h)
    ys, finals = [], []
    for d, reverse in enumerate(run.flags):
        wb, rb = _bias_halves(b, d, hidden, x)
        projected = torch.matmul(x, w[d].to(x.dtype).t()) + (wb + rb)
        cell = _rnn_cell(r[d].to(x.dtype), _clipped(functions[d][0], clip))
        y, (h_last,) = _scan(cell, projected, (h0[d],), reverse, mask)
        ys.append(y)
        finals.append(h_last)
    y_all, y_h = _outputs(ys, [finals], layout)
    return y_all, y_h


def _rnn_cell(r: Tensor, f: Activation) -> Cell:
    recurrence = r.t()

    def cell(projected: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return (f(projected + torch.matmul(states[0], recurrence)),)

    return cell
