"""Self-play in a two-player PettingZoo classic game (AEC API), as a batched tabular env.

Description
    `num_envs` copies of a turn-based two-player game from ``pettingzoo.classic``
    (``tictactoe_v3`` first) played in Python (the general, slow path: ~10^4 steps/s).
    Both seats play from one Q-table, each from its own point of view.

Observations (state encoding)
    The game's observation must be a board of 0/1 planes, ``Box(0, 1, (..., P))`` under
    ``observation`` (PettingZoo classic boards: plane 0 the mover's marks, plane 1 the
    other's), with an ``action_mask``. Cell ``i`` (the board flattened in C order) gets
    ``v_i = sum_p (p + 1) * plane_p[i]`` and the state is ``sum(v_i * (P + 1)**i)``. For
    ``tictactoe_v3`` this is exactly the built-in TicTacToe's code (1 = own mark, 2 = the
    other's; cell ``i`` is action ``i``), so Q-tables are interchangeable: 3**9 states x 9
    actions. A game whose board has more than `MAX_STATES` codes (``connect_four_v3``:
    3**42) or whose observation is not such a board is refused with one line.

Self-play semantics (what is learned)
    Each copy has a *learning seat*, drawn uniformly for every episode with the env RNG,
    so either seat learns half of the episodes. The runtime acts for the learning seat:
    ``obs`` is its state when it is to move, and each ``step`` yields its transition
    ``(its state, its action) -> (its next state when it is next to move, or terminal)``
    with the reward from its point of view (+1 win, -1 loss or illegal move, 0 draw and
    otherwise). The other seat's moves inside the step come from the *same* table, read
    from its own point of view: epsilon-greedy with the learner's current epsilon (a
    uniform legal action with probability epsilon, else the legal action of highest Q,
    ties to the lowest index), drawn with the env RNG. The runtime gives the env its
    learner through `bind_learner` (as for the built-in ``opponent=self``, of which this
    is the same learning problem). When the other seat starts, its first move is made at
    reset.

Batching
    Follows `dist_classicrl.envs.base`: same-step auto-reset, fresh arrays. No time limit
    (PettingZoo truncations are passed on as ``truncated``).

Evaluation
    ``tictactoe_v3``: exact, by the built-in TicTacToe's enumeration (the encodings are
    the same): ``win_rate``/``draw_rate``/``loss_rate`` against the random player and
    ``vs_perfect_*`` against the perfect player, each seat half of the games. Other games:
    `eval_episodes` sampled games against a uniformly random player.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from gymnasium import spaces

from dist_classicrl.envs.base import DistClassicRLEnv, StepResult
from dist_classicrl.envs.tictactoe import greedy_report
from dist_classicrl.errors import ConfigError

#: The largest number of board codes a Q-table is built for.
MAX_STATES = 3**15


@cache
def classic_games() -> dict[str, Any]:
    """PettingZoo's registered classic AEC games by id (``tictactoe_v3``, ...): specs."""
    import pettingzoo

    return {
        f"{spec.name}_v{spec.version}": spec
        for spec in pettingzoo.aec_registry.values()
        if spec.namespace == "classic"
    }


def load_game(game_id: Any) -> Callable[[], Any]:
    """A constructor of the game's *raw* AEC env (without PettingZoo's checking wrappers,
    which took ~65% of a step here; the adapter checks actions itself); `ConfigError`
    for unknown ids and games whose dependencies are missing."""
    games = classic_games()
    if game_id not in games:
        raise ConfigError(
            f"env.id={game_id!r} is not a PettingZoo classic game: allowed are "
            f"{', '.join(sorted(games))}"
        )
    entry = games[game_id].entry_point
    if not isinstance(entry, str):
        return entry
    module_name, _, attr = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"env.id={game_id}: the game cannot be imported: {exc}") from None
    return getattr(module, "raw_env", getattr(module, attr))


class BoardEncoder:
    """Board of 0/1 planes ``(..., P)`` -> one integer (module docstring)."""

    def __init__(self, game_id: str, space: spaces.Space, n_actions: int) -> None:
        board = space.get("observation") if isinstance(space, spaces.Dict) else None
        if (
            board is None
            or "action_mask" not in space.spaces
            or not isinstance(board, spaces.Box)
            or not np.issubdtype(board.dtype, np.integer)
            or board.low.min() != 0
            or board.high.max() != 1
        ):
            raise ConfigError(
                f"env.id={game_id}: its observation {space} is not a board of 0/1 planes "
                "with an action mask, which is what can be tabulated"
            )
        *cells, planes = board.shape
        self.n_cells, self.base = int(np.prod(cells)), planes + 1
        if self.n_cells * np.log(self.base) > np.log(MAX_STATES):
            raise ConfigError(
                f"env.id={game_id}: its observation Box{board.shape} has "
                f"{self.base}**{self.n_cells} board codes, too many for a Q-table "
                f"(at most {MAX_STATES:,} states: only small board games can be tabulated)"
            )
        self.n_states = self.base**self.n_cells
        powers = self.base ** np.arange(self.n_cells, dtype=np.int64)
        # weight of (cell i, plane p) in the flattened board: (p + 1) * base**i
        self.weights = np.outer(powers, np.arange(1, planes + 1)).reshape(-1)

    def __call__(self, observation: np.ndarray) -> int:
        return int(np.dot(observation.reshape(-1), self.weights))


def _other(seat: str, agents: list[str]) -> str:
    return agents[1 - agents.index(seat)]


class PettingZooSelfPlayEnv(DistClassicRLEnv):
    """Self-play over `num_envs` copies of a PettingZoo classic game (module docstring)."""

    def __init__(
        self, game_id: str, num_envs: int = 1, seed: int | None = None, eval_episodes: int = 100
    ) -> None:
        make_game = load_game(game_id)
        self.games = [make_game() for _ in range(num_envs)]
        probe = self.games[0]
        agents = list(probe.possible_agents)
        if len(agents) != 2:
            raise ConfigError(f"env.id={game_id}: self-play needs two players, it has {agents}")
        action_space = probe.action_space(agents[0])
        if not isinstance(action_space, spaces.Discrete):
            raise ConfigError(f"env.id={game_id}: its action space {action_space} is not Discrete")
        self.encode = BoardEncoder(game_id, probe.observation_space(agents[0]), action_space.n)
        super().__init__(num_envs, self.encode.n_states, int(action_space.n))
        self.name = game_id
        self.game_id = game_id
        self.eval_episodes = eval_episodes
        self.rng = np.random.default_rng(seed)
        self.seats = [agents[0]] * num_envs
        self.learner: Any = None
        self._codes = np.zeros(num_envs, dtype=np.int64)  # the learning seats' states
        self._masks = np.zeros((num_envs, self.n_actions), dtype=np.bool_)

    @property
    def has_action_mask(self) -> bool:
        return True

    def bind_learner(self, learner: Any) -> None:
        """The learner whose table (``q_values()``) and ``epsilon`` the other seat uses."""
        self.learner = learner

    # ------------------------------------------------------------------ playing

    def _observe(self, game: Any, seat: str) -> tuple[int, np.ndarray]:
        obs = game.observe(seat)
        return self.encode(obs["observation"]), obs["action_mask"].astype(np.bool_)

    def _other_seat_moves(self, game: Any, seat: str) -> None:
        """Moves of the non-learning seat until the learning seat is to move or the game
        is over: epsilon-greedy from the learner's table, env RNG."""
        if self.learner is None:
            raise RuntimeError("self-play needs the learner: call env.bind_learner first")
        while game.agent_selection != seat and not game.terminations[seat]:
            code, mask = self._observe(game, game.agent_selection)
            legal = np.flatnonzero(mask)
            if self.rng.random() < self.learner.epsilon:
                action = legal[self.rng.integers(len(legal))]
            else:
                action = legal[np.argmax(np.asarray(self.learner.q_values()[code])[legal])]
            game.step(int(action))

    def _new_episode(self, i: int) -> tuple[int, np.ndarray]:
        game = self.games[i]
        game.reset(seed=int(self.rng.integers(2**31)))
        self.seats[i] = game.possible_agents[int(self.rng.integers(2))]
        self._other_seat_moves(game, self.seats[i])
        return self._observe(game, self.seats[i])

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        obs = np.empty(self.num_envs, dtype=np.int64)
        mask = np.empty((self.num_envs, self.n_actions), dtype=np.bool_)
        for i in range(self.num_envs):
            obs[i], mask[i] = self._new_episode(i)
        self._codes, self._masks = obs, mask
        return obs, mask

    def step(self, actions: np.ndarray) -> StepResult:
        n, a = self.num_envs, self.n_actions
        out = StepResult(
            next_obs=np.empty(n, dtype=np.int64),
            reward=np.zeros(n),
            terminated=np.zeros(n, dtype=np.bool_),
            truncated=np.zeros(n, dtype=np.bool_),
            next_mask=np.zeros((n, a), dtype=np.bool_),
            obs=np.empty(n, dtype=np.int64),
            mask=np.empty((n, a), dtype=np.bool_),
        )
        for i, game in enumerate(self.games):
            seat, action = self.seats[i], int(actions[i])
            if not (0 <= action < a and self._masks[i, action]):
                # As PettingZoo's TerminateIllegalWrapper and the built-in game: lost, board kept.
                out.next_obs[i], out.reward[i], out.terminated[i] = self._codes[i], -1.0, True
                out.obs[i], out.mask[i] = self._new_episode(i)
                continue
            game.step(action)
            self._other_seat_moves(game, seat)
            # Classic games pay only at the end: the seat's reward once the game is over.
            code, mask = self._observe(game, seat)
            out.next_obs[i] = code
            out.terminated[i] = game.terminations[seat]
            out.truncated[i] = game.truncations[seat] and not out.terminated[i]
            if out.terminated[i] or out.truncated[i]:
                out.reward[i] = game.rewards[seat]
                code, mask = self._new_episode(i)
            else:
                out.next_mask[i] = mask
            out.obs[i], out.mask[i] = code, mask
        self._codes, self._masks = out.obs, out.mask
        return out

    def close(self) -> None:
        for game in self.games:
            game.close()

    # --------------------------------------------------------------- evaluation

    def evaluate_greedy(self, q_table: np.ndarray, discount: float = 1.0) -> dict[str, Any]:
        """Exact for ``tictactoe_v3`` (module docstring), else sampled vs random."""
        if self.game_id == "tictactoe_v3":
            return greedy_report(q_table)  # the same codes and rules as the built-in game
        return self._sampled_vs_random(np.asarray(q_table))

    def _sampled_vs_random(self, q: np.ndarray) -> dict[str, Any]:
        rng = np.random.default_rng(0)
        game = self.games[0]
        results = []
        for episode in range(self.eval_episodes):
            game.reset(seed=episode)
            seat = game.possible_agents[episode % 2]
            while not game.terminations[seat] and not game.truncations[seat]:
                code, mask = self._observe(game, game.agent_selection)
                legal = np.flatnonzero(mask)
                if game.agent_selection == seat:
                    action = legal[np.argmax(q[code][legal])]
                else:
                    action = legal[rng.integers(len(legal))]
                game.step(int(action))
            results.append(game.rewards[seat])
        r = np.asarray(results, dtype=np.float64)
        return {
            "mean_return": float(r.mean()),
            "win_rate": float((r > 0).mean()),
            "draw_rate": float((r == 0).mean()),
            "loss_rate": float((r < 0).mean()),
        }


def make_pettingzoo(
    game_id: Any, num_envs: int, seed: int | None, eval_episodes: int = 100
) -> PettingZooSelfPlayEnv:
    """The ``env.kind=pettingzoo`` factory: `ConfigError` for unknown or untabulable games."""
    if not game_id:
        raise ConfigError("env.kind=pettingzoo needs env.id, a PettingZoo classic game id")
    return PettingZooSelfPlayEnv(game_id, num_envs, seed, eval_episodes)
