"""``policy.png``: each env family's picture is a real picture, and what it draws in a
cell is that cell's greedy action."""

from __future__ import annotations

from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pytest

import dist_classicrl
from dist_classicrl.app.policy_plot import (
    AFTER_CENTRE_OPENING,
    FROZENLAKE_MOVES,
    NO_PREFERENCE,
    OPENING,
    Mark,
    blackjack_grids,
    cliffwalking_marks,
    env_family,
    frozenlake_map,
    frozenlake_marks,
    generic_panels,
    plot_policy,
    taxi_marks,
    taxi_state,
    tictactoe_preferred,
)
from dist_classicrl.envs import make_env, value_iteration
from dist_classicrl.wrappers import BinnedObservation
from tests.app.test_cli import run_cli

MAP_4X4 = ["SFFF", "FHFH", "FFFH", "HFFG"]


def assert_not_blank(path, min_colours=30, min_std=0.05):
    image = plt.imread(path)
    height, width = image.shape[:2]
    assert width >= 400 and height >= 300
    rgb = np.round(image[..., :3] * 255).astype(np.uint32)
    colours = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # one number per colour
    assert np.unique(colours).size > min_colours
    assert image[..., :3].std() > min_std


def acrobot(num_envs, seed):
    """A generic env: Acrobot's 6 dimensions in 3 bins each, 729 states by index."""
    binned = partial(BinnedObservation, bins=3)
    return make_env("gym", num_envs, id="Acrobot-v1", wrapper=binned, seed=seed)


ENVS = {
    "frozenlake": ("frozenlake", "frozenlake"),
    "frozenlake8x8": ("frozenlake8x8", "frozenlake"),
    "cliffwalking": ("cliffwalking", "cliffwalking"),
    "taxi": ("taxi", "taxi"),
    "tictactoe": ("tictactoe", "tictactoe"),
    "blackjack": ("blackjack", "blackjack"),
    "mountaincar": ("mountaincar", "generic"),
    "cartpole": ("cartpole", "generic"),
    "acrobot": (acrobot, "generic"),
}


@pytest.mark.parametrize("name", list(ENVS))
def test_every_env_family_draws_a_real_picture(name, tmp_path):
    make, family = ENVS[name]
    env = make(1, seed=0) if callable(make) else make_env(make, 1, seed=0)
    try:
        assert env_family(env.name, env.n_states, env.n_actions) == family
        rng = np.random.default_rng(0)
        tables = {
            "random": rng.normal(size=(env.n_states, env.n_actions)).astype(np.float32),
            "unlearned": np.zeros((env.n_states, env.n_actions), dtype=np.float32),
        }
        for label, q in tables.items():
            path = tmp_path / f"{label}.png"
            plot_policy(q, env, path, title=f"optimal q_learning / single / {env.name}")
            assert_not_blank(path)
    finally:
        env.close()


def test_pettingzoo_tictactoe_gets_the_tictactoe_boards(tmp_path):
    pytest.importorskip("pettingzoo")
    env = make_env("pettingzoo_tictactoe", 1, seed=0)
    assert env_family(env.name, env.n_states, env.n_actions) == "tictactoe"
    q = np.random.default_rng(0).normal(size=(env.n_states, env.n_actions))
    plot_policy(q, env, tmp_path / "policy.png", title="self-play")
    assert_not_blank(tmp_path / "policy.png")


def test_env_family_needs_the_name_and_the_table_size():
    assert env_family("FrozenLake-v1", 16, 4) == "frozenlake"
    assert env_family("FrozenLake8x8-v1", 64, 4) == "frozenlake"
    assert env_family("FrozenLake-v1", 20, 4) == "generic"  # not a square grid
    assert env_family("Taxi-v4", 500, 6) == "taxi"
    assert env_family("Taxi-v4", 500, 4) == "generic"
    assert env_family("dist_classicrl/TicTacToe-v0", 3**9, 9) == "tictactoe"
    assert env_family("gymnasium.envs.toy_text:CliffWalking-v1", 48, 4) == "cliffwalking"
    assert env_family("CartPole-v1", 54, 2) == "generic"


def test_the_frozenlake_map_is_read_from_the_compiled_env():
    env = make_env("frozenlake", 1, seed=0)
    assert frozenlake_map(env, 4) == MAP_4X4
    big = make_env("frozenlake8x8", 1, seed=0)
    assert frozenlake_map(big, 8)[5] == "FHHFFFHF"  # Gymnasium's 8x8 map, row 5
    vector = make_env("frozenlake", 1, seed=0, backend="vector")  # its own desc
    assert frozenlake_map(vector, 4) == MAP_4X4
    vector.close()


def test_a_frozenlake_cell_shows_its_greedy_action():
    q = np.zeros((16, 4))
    q[1, 2] = 1.0  # (0, 1): right
    q[4, 3] = 0.5  # (1, 0): up
    q[14] = [0.1, 0.7, 0.2, 0.3]  # (3, 2): down
    q[5, 0] = 9.0  # a hole: terminal, no mark whatever the table says
    marks = {(m.row, m.col): m for m in frozenlake_marks(q, MAP_4X4)}
    assert marks[(0, 1)] == Mark(0, 1, 2, 1, 0, "")
    assert marks[(1, 0)] == Mark(1, 0, 3, 0, -1, "")
    assert marks[(3, 2)] == Mark(3, 2, 1, 0, 1, "")
    assert marks[(0, 0)].action == NO_PREFERENCE and marks[(0, 0)].letter == "·"
    assert not {(1, 1), (1, 3), (2, 3), (3, 0), (3, 3)} & set(marks)  # holes and the goal
    assert len(marks) == 16 - 5


def test_a_learned_frozenlake_policy_is_drawn_as_learned(tmp_path):
    agent = dist_classicrl.QLearning("frozenlake", num_envs=16, seed=0).learn(200_000)
    q = agent.q_table
    marks = frozenlake_marks(q, frozenlake_map(agent.env, 4))
    for m in marks:
        state = m.row * 4 + m.col
        assert m.action == int(np.argmax(q[state]))
        assert (m.dx, m.dy) == FROZENLAKE_MOVES[m.action]
    # the start: the learned arrow is value iteration's move (left, away from the holes)
    _, q_star = value_iteration(agent.env.model, agent.algorithm.discount)
    start = next(m for m in marks if (m.row, m.col) == (0, 0))
    assert (start.dx, start.dy) == FROZENLAKE_MOVES[int(np.argmax(q_star[0]))] == (-1, 0)
    plot_policy(q, agent.env, tmp_path / "policy.png", title="learned")
    assert_not_blank(tmp_path / "policy.png")
    agent.env.close()


def test_cliffwalking_has_no_arrow_on_the_cliff_or_the_goal():
    q = np.zeros((48, 4))
    q[36, 0] = 1.0  # the start (3, 0): up
    q[37:48, 1] = 1.0  # the cliff and the goal: never drawn
    marks = {(m.row, m.col): m for m in cliffwalking_marks(q)}
    assert (marks[(3, 0)].dx, marks[(3, 0)].dy) == (0, -1)
    assert not any(row == 3 and col > 0 for row, col in marks)
    assert len(marks) == 48 - 11


def test_taxi_panels_follow_gymnasiums_encoding():
    q = np.zeros((500, 6))
    q[taxi_state(1, 2, 0, 1), 2] = 1.0  # passenger at R, going to G; taxi at (1, 2): east
    q[taxi_state(0, 0, 0, 1), 4] = 1.0  # the taxi on the passenger: pickup
    q[taxi_state(0, 4, 4, 1), 5] = 1.0  # in the taxi, at the destination: dropoff
    marks = {(m.row, m.col): m for m in taxi_marks(q, passenger=0, destination=1)}
    assert (marks[(1, 2)].dx, marks[(1, 2)].dy) == (1, 0)
    assert marks[(0, 0)].letter == "P"
    assert all(m.letter == "·" for key, m in marks.items() if key not in ((1, 2), (0, 0)))
    assert {(m.row, m.col) for m in taxi_marks(q, 4, 1) if m.letter == "D"} == {(0, 4)}


def test_tictactoe_preferred_moves_skip_occupied_cells():
    q = np.zeros((3**9, 9))
    q[OPENING, 4] = 0.9
    q[AFTER_CENTRE_OPENING, 4] = 5.0  # the centre is the opponent's: never preferred
    q[AFTER_CENTRE_OPENING, 8] = 0.7
    assert tictactoe_preferred(q, OPENING) == 4
    assert tictactoe_preferred(q, AFTER_CENTRE_OPENING) == 8


def test_blackjack_grids_read_the_flattened_states():
    q = np.zeros((704, 2))
    q[14 * 22 + 10 * 2 + 0, 1] = 1.0  # sum 14, dealer 10, no usable ace: hit
    q[20 * 22 + 1 * 2 + 1, 0] = 1.0  # sum 20, dealer ace, usable ace: stick
    actions, values = blackjack_grids(q)
    assert actions.shape == values.shape == (2, 10, 10)  # [ace, sum 12..21, dealer 1..10]
    assert actions[0, 14 - 12, 10 - 1] == 1
    assert actions[1, 20 - 12, 1 - 1] == 0
    assert (actions == NO_PREFERENCE).sum() == 200 - 2


def test_binned_envs_are_drawn_over_their_grid():
    car = make_env("mountaincar", 1, seed=0)
    q = np.zeros((400, 3))
    q[np.ravel_multi_index((19, 0), (20, 20)), 2] = 1.0  # right end, slowest velocity bin
    (panel,) = generic_panels(q, car)
    assert panel.actions.shape == (20, 20)  # [velocity, position]
    assert panel.actions[0, 19] == 2
    assert (panel.x_label, panel.y_label) == ("position", "velocity")
    car.close()
    pole = make_env("cartpole", 1, seed=0)
    panels = generic_panels(np.zeros((54, 2)), pole)
    assert [p.actions.shape for p in panels] == [(3, 6)] * 3  # per cart-velocity bin
    pole.close()
    other = acrobot(1, seed=0)
    (by_index,) = generic_panels(np.zeros((729, 3)), other)
    assert by_index.actions.shape == (27, 27)
    other.close()


def test_a_job_writes_policy_png(tmp_path):
    out = tmp_path / "job"
    proc = run_cli(["env=frozenlake", "steps=20000", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_not_blank(out / "policy.png")
    assert not list(out.glob(".*.part*"))  # written under a temporary name, then renamed
