"""``policy.png``: a picture of the greedy policy a job's Q-table learned.

The greedy action follows the library's rule (`dist_classicrl.policies.greedy_actions`:
ties go to the lowest action index; TicTacToe's occupied cells are never chosen), and a
state's value is ``max_a Q(s, a)``. A state whose actions all have the same value (one the table
never learned anything about, such as an unvisited state) has no preferred action: the
pictures show a dot, or grey, there. The env is recognised by its name and table size
(`env_family`); what each picture shows:

- FrozenLake (any square map: 4x4, 8x8) and CliffWalking (4x12): the grid, each cell
  coloured by its state value, with an arrow in the direction of the greedy action. The
  map is labelled (FrozenLake: S start, H hole, G goal, read from the env; CliffWalking:
  the start, the goal and the cliff, row 3, columns 1 to 10). Terminal cells (holes, the
  goal) and cliff cells, which are never states an action is taken in, get no arrow.
- Taxi: one 5x5 panel per (passenger location, destination) pair, 5 x 4 = 20 panels,
  rows the passenger's location (R, G, Y, B, in the taxi), columns the destination. In a
  panel each cell is the taxi's position, coloured by the state value (one colour scale
  for all panels), with an arrow for a move or the letter P (pickup) or D (dropoff); the
  walls are thick lines, the passenger's location and the destination are outlined. The
  four panels where the passenger is at its destination are the terminal states reached
  by a delivery: greyed, no actions.
- TicTacToe (built-in and PettingZoo's ``tictactoe_v3``, same encoding): two boards from
  the agent's point of view (X the agent, O the opponent): the empty board (state 0) and
  the board after the opponent opened in the centre (state ``2 * 3**4``). Each empty cell
  shows its Q-value, coloured from -1 (red, loss) to +1 (green, win); the table's
  preferred move is outlined. Cell ``i`` is drawn at row ``i // 3``, column ``i % 3``
  (PettingZoo draws its board transposed, which the game's symmetry makes equivalent).
- Blackjack (704 flattened states, player sum x dealer card x usable ace): Sutton and
  Barto's Figure 5.2: for a usable ace and for none, the greedy action (stick or hit) for
  player sums 12 to 21 against the dealer's card 1 (ace) to 10, and below the state value.
- Anything else (CartPole and MountainCar binned by `BinnedObservation`, any other env):
  the greedy action (one colour per action) above the state value. When the env's
  observation is binned into a grid with 1 to 3 dimensions of more than one bin, the
  panels are over that grid, in the observation's own units (MountainCar: position
  against velocity; CartPole: one panel per cart-velocity bin, pole angle against pole
  angular velocity). Otherwise the states are laid out by index, row after row.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from dist_classicrl.envs.base import DistClassicRLEnv
from dist_classicrl.envs.gym_vector import GymVectorEnv
from dist_classicrl.envs.tabular import TabularEnv
from dist_classicrl.envs.tictactoe import decode
from dist_classicrl.wrappers import BinnedObservation

__all__ = ["plot_policy"]

#: The greedy action of a state whose actions all tie.
NO_PREFERENCE = -1

# Grid moves: action -> (column step, row step), rows counted downwards as drawn.
FROZENLAKE_MOVES = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # left, down, right, up
CLIFFWALKING_MOVES = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # up, right, down, left
TAXI_MOVES = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}  # south, north, east, west
TAXI_LETTERS = {4: "P", 5: "D"}  # pickup, dropoff

CLIFF_SHAPE = (4, 12)
CLIFF_CELLS = [(3, col) for col in range(1, 11)]
CLIFF_START, CLIFF_GOAL = (3, 0), (3, 11)

#: Taxi's four locations (row, column), in the order the state encodes them.
TAXI_LOCATIONS = ((0, 0), (0, 4), (4, 0), (4, 3))
TAXI_PLACES = ("R", "G", "Y", "B", "in taxi")  # passenger locations 0..4; destinations 0..3
#: Cells with a wall on their east side (Gymnasium's Taxi map).
TAXI_WALLS_EAST = ((0, 1), (1, 1), (3, 0), (4, 0), (3, 2), (4, 2))

BLACKJACK_SHAPE = (32, 11, 2)  # player sum, dealer card, usable ace
PLAYER_SUMS = range(12, 22)
DEALER_CARDS = range(1, 11)

TICTACTOE_STATES = 3**9
OPENING = 0  # the empty board, the agent to move
AFTER_CENTRE_OPENING = 2 * 3**4  # the opponent's mark in the centre

#: Names of the observation's dimensions and of the actions, for the generic picture.
DIMENSION_NAMES = {
    "cartpole": ["cart position", "cart velocity", "pole angle", "pole angular velocity"],
    "mountaincar": ["position", "velocity"],
}
ACTION_NAMES = {
    "cartpole": ["push left", "push right"],
    "mountaincar": ["push left", "no push", "push right"],
}

VALUE_COLORMAP = "viridis"


class Mark(NamedTuple):
    """What one cell of a grid picture shows: an arrow along ``(dx, dy)`` (columns right,
    rows down) for a move, else `letter` (Taxi's P and D; a dot when all actions tie)."""

    row: int
    col: int
    action: int  # NO_PREFERENCE when all actions tie
    dx: int
    dy: int
    letter: str


def plot_policy(q_table: np.ndarray, env: DistClassicRLEnv, path: Path, title: str) -> None:
    """Draw the greedy policy of `q_table` (``[n_states, n_actions]``) over `env`'s states
    into the PNG file `path`, the picture the module docstring describes for its env."""
    q = np.asarray(q_table, dtype=np.float64)
    family = env_family(env.name, q.shape[0], q.shape[1])
    if family == "frozenlake":
        fig = _frozenlake_figure(q, frozenlake_map(env, math.isqrt(q.shape[0])))
    elif family == "cliffwalking":
        fig = _cliffwalking_figure(q)
    elif family == "taxi":
        fig = _taxi_figure(q)
    elif family == "tictactoe":
        fig = _tictactoe_figure(q)
    elif family == "blackjack":
        fig = _blackjack_figure(q)
    else:
        fig = _generic_figure(q, env)
    fig.suptitle(title, fontsize=11, wrap=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def base_name(env_name: str) -> str:
    """The env's name in lower case without a ``module:`` prefix or a version:
    ``"FrozenLake-v1"`` -> ``"frozenlake"``."""
    return env_name.rpartition(":")[2].lower().partition("-v")[0]


def env_family(env_name: str, n_states: int, n_actions: int) -> str:
    """Which picture an env gets: ``frozenlake``, ``cliffwalking``, ``taxi``,
    ``tictactoe``, ``blackjack`` or ``generic``, from its name and table size."""
    name = base_name(env_name)
    side = math.isqrt(n_states)
    if name.startswith("frozenlake") and side * side == n_states and n_actions == 4:
        return "frozenlake"
    if name.startswith("cliffwalking") and n_states == 48 and n_actions == 4:
        return "cliffwalking"
    if name == "taxi" and n_states == 500 and n_actions == 6:
        return "taxi"
    if "tictactoe" in name and n_states == TICTACTOE_STATES and n_actions == 9:
        return "tictactoe"
    if name == "blackjack" and n_states == 704 and n_actions == 2:
        return "blackjack"
    return "generic"


def greedy_or_tie(q_rows: np.ndarray) -> np.ndarray:
    """The greedy action of each row (lowest index on ties), `NO_PREFERENCE` where every
    action has the same value."""
    actions = np.argmax(q_rows, axis=-1)
    return np.where(q_rows.max(axis=-1) == q_rows.min(axis=-1), NO_PREFERENCE, actions)


def grid_marks(
    q_cells: np.ndarray,
    skip: np.ndarray,
    moves: dict[int, tuple[int, int]],
    letters: dict[int, str] | None = None,
) -> list[Mark]:
    """The mark of each cell of a grid picture, as it is drawn: `q_cells` is
    ``[rows, cols, n_actions]``, `skip` ``bool[rows, cols]`` the cells without one
    (terminal states, the cliff); `moves` maps an action to its ``(dx, dy)``, `letters`
    an action that is not a move to its letter."""
    letters = letters or {}
    actions = greedy_or_tie(q_cells)
    marks = []
    for row in range(actions.shape[0]):
        for col in range(actions.shape[1]):
            if skip[row, col]:
                continue
            action = int(actions[row, col])
            dx, dy = moves.get(action, (0, 0))
            letter = "" if action in moves else letters.get(action, "·")
            marks.append(Mark(row, col, action, dx, dy, letter))
    return marks


def _draw_marks(ax: Axes, marks: list[Mark], size: float = 12) -> None:
    """Arrows (one quiver) and letters of `marks` on a grid drawn by ``imshow``."""
    arrows = [m for m in marks if m.letter == ""]
    if arrows:
        ax.quiver(
            [m.col for m in arrows],
            [m.row for m in arrows],
            [0.6 * m.dx for m in arrows],
            [0.6 * m.dy for m in arrows],
            angles="xy",  # data coordinates: a positive dy points down the inverted y axis
            scale_units="xy",
            scale=1,
            pivot="middle",
            color="white",
            edgecolor="black",
            linewidth=0.6,
            units="xy",  # widths in cells, whatever the grid's size
            width=0.07,
        )
    for m in marks:
        if m.letter:
            ax.text(
                m.col,
                m.row,
                m.letter,
                ha="center",
                va="center",
                fontsize=size,
                fontweight="bold",
                color="white",
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "black", "alpha": 0.4},
            )


def _value_image(
    ax: Axes, values: np.ndarray, vmin: float | None = None, vmax: float | None = None
) -> AxesImage:
    """`values` ``[rows, cols]`` as a heatmap, one square per cell; NaN cells grey."""
    cmap = plt.get_cmap(VALUE_COLORMAP).with_extremes(bad="0.35")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax)
    rows, cols = values.shape
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    return image


def _corner_label(ax: Axes, row: int, col: int, text: str, color: str = "white") -> None:
    ax.text(col - 0.42, row - 0.42, text, ha="left", va="top", fontsize=9, color=color)


def _goal_patch(ax: Axes, row: int, col: int) -> None:
    ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, color="gold"))


# -- FrozenLake and CliffWalking ------------------------------------------------------


def frozenlake_map(env: DistClassicRLEnv, side: int) -> list[str]:
    """FrozenLake's map, a row of letters per grid row (S start, F frozen, H hole, G
    goal): the env's own ``desc`` when it steps Gymnasium copies; read from its model
    when it is compiled (a state that a terminating transition enters is the goal when
    that transition pays, else a hole; the start states are those it can start in); all
    F when it has neither."""
    if isinstance(env, GymVectorEnv):
        desc = getattr(env.vector.envs[0].unwrapped, "desc", None)
        if desc is not None:
            return ["".join(letter.decode() for letter in row) for row in desc]
    letters = np.full(side * side, "F")
    if isinstance(env, TabularEnv):
        model = env.model
        ending = model.terminated & (model.probs > 0)
        entered = model.next_states[ending]
        holes_or_goal = np.zeros(side * side, dtype=bool)
        goal = np.zeros(side * side, dtype=bool)
        holes_or_goal[entered] = True
        goal[entered[model.rewards[ending] > 0]] = True
        letters[model.initial > 0] = "S"
        letters[holes_or_goal] = "H"
        letters[goal] = "G"
    return ["".join(letters[row * side : (row + 1) * side]) for row in range(side)]


def frozenlake_marks(q: np.ndarray, desc: list[str]) -> list[Mark]:
    """The marks of FrozenLake's grid (state ``row * side + col``): none on holes and the
    goal, which are terminal."""
    side = len(desc)
    letters = np.array([list(row) for row in desc])
    terminal = (letters == "H") | (letters == "G")
    return grid_marks(q.reshape(side, side, -1), terminal, FROZENLAKE_MOVES)


def _frozenlake_figure(q: np.ndarray, desc: list[str]) -> Figure:
    side = len(desc)
    letters = np.array([list(row) for row in desc])
    terminal = (letters == "H") | (letters == "G")
    values = q.max(axis=1).reshape(side, side)
    fig, ax = plt.subplots(figsize=(1.0 * side + 2.5, 1.0 * side + 1.5), layout="constrained")
    image = _value_image(ax, np.where(terminal, np.nan, values))
    _draw_marks(ax, frozenlake_marks(q, desc))
    for row in range(side):
        for col in range(side):
            if letters[row, col] == "G":
                _goal_patch(ax, row, col)
            if letters[row, col] != "F":
                _corner_label(ax, row, col, str(letters[row, col]))
    fig.colorbar(image, ax=ax, label="state value max_a Q(s, a)")
    ax.set_title("greedy action; S start, H hole (grey), G goal (gold)", fontsize=9)
    return fig


def cliffwalking_marks(q: np.ndarray) -> list[Mark]:
    """The marks of CliffWalking's 4x12 grid (state ``row * 12 + col``): none on the cliff
    and the goal."""
    skip = np.zeros(CLIFF_SHAPE, dtype=bool)
    for cell in [*CLIFF_CELLS, CLIFF_GOAL]:
        skip[cell] = True
    return grid_marks(q.reshape(*CLIFF_SHAPE, -1), skip, CLIFFWALKING_MOVES)


def _cliffwalking_figure(q: np.ndarray) -> Figure:
    rows, cols = CLIFF_SHAPE
    values = q.max(axis=1).reshape(rows, cols)
    for cell in [*CLIFF_CELLS, CLIFF_GOAL]:
        values[cell] = np.nan  # the cliff is never a state: falling in returns to the start
    fig, ax = plt.subplots(figsize=(12, 4.2), layout="constrained")
    image = _value_image(ax, values)
    _draw_marks(ax, cliffwalking_marks(q))
    ax.text(5.5, 3, "the cliff", ha="center", va="center", color="white", fontsize=12)
    _corner_label(ax, *CLIFF_START, "S")
    _goal_patch(ax, *CLIFF_GOAL)
    _corner_label(ax, *CLIFF_GOAL, "G")
    fig.colorbar(image, ax=ax, label="state value max_a Q(s, a)")
    ax.set_title("greedy action; S start, G goal (gold)", fontsize=9)
    return fig


# -- Taxi -----------------------------------------------------------------------------


def taxi_state(taxi_row: int, taxi_col: int, passenger: int, destination: int) -> int:
    """Gymnasium's Taxi encoding."""
    return ((taxi_row * 5 + taxi_col) * 5 + passenger) * 4 + destination


def taxi_marks(q: np.ndarray, passenger: int, destination: int) -> list[Mark]:
    """The marks of one Taxi panel: the taxi's 25 positions with this passenger location
    and destination (`taxi_state`)."""
    by_place = q.reshape(5, 5, 5, 4, -1)  # [taxi row, taxi col, passenger, destination, a]
    cells = by_place[:, :, passenger, destination]
    return grid_marks(cells, np.zeros((5, 5), dtype=bool), TAXI_MOVES, TAXI_LETTERS)


def _taxi_figure(q: np.ndarray) -> Figure:
    values = q.max(axis=1).reshape(5, 5, 5, 4)  # [taxi row, taxi col, passenger, destination]
    delivered = np.zeros((5, 5, 5, 4), dtype=bool)
    for place in range(4):
        delivered[:, :, place, place] = True
    vmin, vmax = float(values[~delivered].min()), float(values[~delivered].max())
    fig, axes = plt.subplots(5, 4, figsize=(11, 15))
    # fixed margins: a constrained layout of 20 panels takes a second to compute
    fig.subplots_adjust(left=0.04, right=0.87, bottom=0.03, top=0.94, hspace=0.3, wspace=0.2)
    image = None
    for passenger in range(5):
        for destination in range(4):
            ax = axes[passenger, destination]
            if passenger == destination:
                _value_image(ax, np.full((5, 5), np.nan))
                ax.text(2, 2, "delivered\n(terminal)", ha="center", va="center", color="white")
            else:
                image = _value_image(ax, values[:, :, passenger, destination], vmin, vmax)
                _draw_marks(ax, taxi_marks(q, passenger, destination), size=9)
            _draw_taxi_map(ax, passenger, destination)
            ax.set_title(
                f"passenger {TAXI_PLACES[passenger]}, destination {TAXI_PLACES[destination]}",
                fontsize=9,
            )
            ax.tick_params(labelsize=7)
    if image is not None:
        colorbar_axes = fig.add_axes((0.9, 0.3, 0.02, 0.4))
        fig.colorbar(image, cax=colorbar_axes, label="state value max_a Q(s, a)")
    return fig


def _draw_taxi_map(ax: Axes, passenger: int, destination: int) -> None:
    """Walls, the four locations' letters, the passenger's place (blue) and the
    destination (magenta)."""
    for row, col in TAXI_WALLS_EAST:
        ax.plot([col + 0.5, col + 0.5], [row - 0.5, row + 0.5], color="black", linewidth=4)
    for place, (row, col) in enumerate(TAXI_LOCATIONS):
        _corner_label(ax, row, col, TAXI_PLACES[place])
    outlines = [(TAXI_LOCATIONS[destination], "magenta")]
    if passenger < 4:
        outlines.append((TAXI_LOCATIONS[passenger], "deepskyblue"))
    for (row, col), color in outlines:
        ax.add_patch(
            Rectangle((col - 0.45, row - 0.45), 0.9, 0.9, fill=False, color=color, linewidth=2.5)
        )


# -- TicTacToe ------------------------------------------------------------------------


def _tictactoe_figure(q: np.ndarray) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.5))
    # fixed margins: every job draws this, and a constrained layout doubles its time
    fig.subplots_adjust(left=0.02, right=0.86, bottom=0.1, top=0.86, wspace=0.08)
    image = _tictactoe_board(axes[0], q, OPENING, "empty board, the agent to move")
    _tictactoe_board(axes[1], q, AFTER_CENTRE_OPENING, "the opponent opened in the centre")
    fig.colorbar(image, cax=fig.add_axes((0.88, 0.2, 0.02, 0.56)), label="Q(s, cell)")
    note = "X the agent (this table), O the opponent; outlined: the preferred move"
    fig.text(0.5, 0.02, note, ha="center")
    return fig


def tictactoe_preferred(q: np.ndarray, state: int) -> int:
    """The table's move in `state`: the greedy empty cell (lowest index on ties)."""
    empty = decode(state) == 0
    return int(np.argmax(np.where(empty, q[state], -np.inf)))


def _tictactoe_board(ax: Axes, q: np.ndarray, state: int, heading: str) -> AxesImage:
    cells = decode(state)
    empty = cells == 0
    shown = np.where(empty, q[state], np.nan).reshape(3, 3)
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=-1, vmax=1)
    for i in range(9):
        row, col = divmod(i, 3)
        if cells[i] == 0:
            ax.text(col, row, f"{q[state, i]:.3f}", ha="center", va="center", fontsize=14)
        else:
            ax.text(col, row, "X" if cells[i] == 1 else "O", ha="center", va="center", fontsize=40)
    best_row, best_col = divmod(tictactoe_preferred(q, state), 3)
    ax.add_patch(Rectangle((best_col - 0.47, best_row - 0.47), 0.94, 0.94, fill=False, linewidth=5))
    for line in (0.5, 1.5):
        ax.axhline(line, color="black", linewidth=2)
        ax.axvline(line, color="black", linewidth=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{heading} (state {state})")
    return image


# -- Blackjack ------------------------------------------------------------------------


def blackjack_grids(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(actions, values)``, each ``[usable ace (0 no, 1 yes), player sum 12..21, dealer
    card 1..10]``: the greedy action (`NO_PREFERENCE` on ties) and the state value."""
    table = q.reshape(*BLACKJACK_SHAPE, -1)[12:22, 1:11]  # [player, dealer, ace, action]
    table = table.transpose(2, 0, 1, 3)  # [ace, player, dealer, action]
    return greedy_or_tie(table), table.max(axis=-1)


def _blackjack_figure(q: np.ndarray) -> Figure:
    actions, values = blackjack_grids(q)
    fig, axes = plt.subplots(2, 2, figsize=(10, 9), layout="constrained")
    extent = (0.5, 10.5, 11.5, 21.5)  # dealer card 1..10 across, player sum 12..21 up
    action_cmap = ListedColormap(["tab:blue", "tab:red"]).with_extremes(bad="0.8")
    value_image = None
    for column, ace in enumerate((1, 0)):
        shown = np.ma.masked_equal(actions[ace], NO_PREFERENCE)
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(shown, cmap=action_cmap, vmin=0, vmax=1, origin="lower", extent=extent)
        top.set_title(f"{'usable ace' if ace else 'no usable ace'}: greedy action")
        value_image = bottom.imshow(
            values[ace], cmap=VALUE_COLORMAP, origin="lower", extent=extent, vmin=-1, vmax=1
        )
        bottom.set_title(f"{'usable ace' if ace else 'no usable ace'}: state value")
        for ax in (top, bottom):
            ax.set_xticks(list(DEALER_CARDS), ["A", *map(str, range(2, 11))])
            ax.set_yticks(list(PLAYER_SUMS))
            ax.set_xlabel("dealer showing")
            ax.set_ylabel("player sum")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in ("tab:blue", "tab:red", "0.8")]
    axes[0, 1].legend(handles, ["stick", "hit", "tie"], loc="upper left", bbox_to_anchor=(1, 1))
    if value_image is not None:
        fig.colorbar(value_image, ax=axes[1, :], label="max_a Q(s, a)")
    return fig


# -- everything else ------------------------------------------------------------------


def binned_observation(env: DistClassicRLEnv) -> BinnedObservation | None:
    """The `BinnedObservation` wrapper around the env's Gymnasium copies, if any."""
    if not isinstance(env, GymVectorEnv):
        return None
    layer: Any = env.vector.envs[0]
    while layer is not None:
        if isinstance(layer, BinnedObservation):
            return layer
        layer = getattr(layer, "env", None)
    return None


class Panel(NamedTuple):
    """One panel of the generic picture: the actions and values as ``[y, x]`` grids."""

    heading: str
    actions: np.ndarray
    values: np.ndarray
    extent: tuple[float, float, float, float]
    x_label: str
    y_label: str
    origin: str  # "lower": binned, y up; "upper": by index, row 0 at the top


def generic_panels(q: np.ndarray, env: DistClassicRLEnv) -> list[Panel]:
    """The panels of the generic picture: over the binned grid when the env's observation
    is binned with 1 to 3 dimensions of more than one bin, else over the state index."""
    actions = greedy_or_tie(q).astype(np.float64)
    actions[actions == NO_PREFERENCE] = np.nan
    values = q.max(axis=1)
    binned = binned_observation(env)
    if binned is not None and int(np.prod(binned.bins)) == q.shape[0]:
        varying = [d for d in range(len(binned.bins)) if binned.bins[d] > 1]
        if 1 <= len(varying) <= 3:
            return _binned_panels(actions, values, binned, varying, base_name(env.name))
    columns = math.ceil(math.sqrt(q.shape[0]))
    rows = math.ceil(q.shape[0] / columns)
    padding = rows * columns - q.shape[0]
    return [
        Panel(
            f"{q.shape[0]} states by index",
            np.append(actions, [np.nan] * padding).reshape(rows, columns),
            np.append(values, [np.nan] * padding).reshape(rows, columns),
            (-0.5, columns - 0.5, rows - 0.5, -0.5),
            f"state index % {columns}",
            f"state index // {columns}",
            "upper",
        )
    ]


def _binned_panels(
    actions: np.ndarray,
    values: np.ndarray,
    binned: BinnedObservation,
    varying: list[int],
    name: str,
) -> list[Panel]:
    """Panels over the bins: x the last varying dimension but one, y the last (none when
    only one varies), and one panel per bin of the first when three vary."""
    names = DIMENSION_NAMES.get(name, [f"observation[{d}]" for d in range(len(binned.bins))])
    shape = [int(binned.bins[d]) for d in varying]
    action_grid = actions.reshape(shape)  # dimensions of one bin drop out
    value_grid = values.reshape(shape)
    if len(varying) == 1:  # one row of cells
        action_grid, value_grid = action_grid[:, None], value_grid[:, None]
        x_dim, y_dim = varying[0], None
    else:
        x_dim, y_dim = varying[-2], varying[-1]
    low, high = binned.low, binned.high
    y_range = (0.0, 1.0) if y_dim is None else (float(low[y_dim]), float(high[y_dim]))
    extent = (float(low[x_dim]), float(high[x_dim]), *y_range)
    y_label = "" if y_dim is None else names[y_dim]
    if len(varying) < 3:  # the grids are [x, y]; a panel is [y, x]
        return [Panel("", action_grid.T, value_grid.T, extent, names[x_dim], y_label, "lower")]
    first = varying[0]
    width = (high[first] - low[first]) / binned.bins[first]
    return [
        Panel(
            f"{names[first]} in [{low[first] + i * width:.3g}, {low[first] + (i + 1) * width:.3g})",
            action_grid[i].T,
            value_grid[i].T,
            extent,
            names[x_dim],
            y_label,
            "lower",
        )
        for i in range(shape[0])
    ]


def _action_colormap(n_actions: int) -> Colormap:
    """One colour per action (tab10, tab20 beyond 10 actions), grey for a tie."""
    palette = plt.get_cmap("tab10" if n_actions <= 10 else "tab20")
    if n_actions > 20:
        return plt.get_cmap("viridis", n_actions).with_extremes(bad="0.8")
    return ListedColormap([palette(i) for i in range(n_actions)]).with_extremes(bad="0.8")


def _generic_figure(q: np.ndarray, env: DistClassicRLEnv) -> Figure:
    n_actions = q.shape[1]
    panels = generic_panels(q, env)
    names = ACTION_NAMES.get(base_name(env.name), [])
    if len(names) != n_actions:
        names = [f"action {a}" for a in range(n_actions)]
    fig, axes = plt.subplots(
        2, len(panels), figsize=(4.5 * len(panels) + 2, 8.5), squeeze=False, layout="constrained"
    )
    values = np.concatenate([p.values.ravel() for p in panels])
    vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    cmap = _action_colormap(n_actions)
    action_image = value_image = None
    for column, panel in enumerate(panels):
        top, bottom = axes[0, column], axes[1, column]
        options: dict[str, Any] = {
            "origin": panel.origin,
            "extent": panel.extent,
            "aspect": "auto",
            "interpolation": "nearest",
        }
        action_image = top.imshow(
            np.ma.masked_invalid(panel.actions),
            cmap=cmap,
            vmin=-0.5,
            vmax=n_actions - 0.5,
            **options,
        )
        value_image = bottom.imshow(
            np.ma.masked_invalid(panel.values), cmap=VALUE_COLORMAP, vmin=vmin, vmax=vmax, **options
        )
        top.set_title(f"greedy action\n{panel.heading}".strip(), fontsize=9)
        bottom.set_title(f"state value\n{panel.heading}".strip(), fontsize=9)
        for ax in (top, bottom):
            ax.set_xlabel(panel.x_label)
            ax.set_ylabel(panel.y_label)
            if not panel.y_label:  # one binned dimension: a single row of cells
                ax.set_yticks([])
    if action_image is not None:
        bar = fig.colorbar(action_image, ax=axes[0, :], ticks=range(n_actions))
        bar.ax.set_yticklabels(names)
        bar.set_label("greedy action (grey: all actions tie)")
    if value_image is not None:
        fig.colorbar(value_image, ax=axes[1, :], label="state value max_a Q(s, a)")
    return fig
