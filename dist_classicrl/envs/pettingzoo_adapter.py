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
    Both seats of every game learn into the one table. The runtime acts for whichever
    seat is to move: ``obs`` is the mover's state, from its own point of view, and the
    runtime's epsilon-greedy choice is its move, for both seats alike. A seat's move
    ``(its state, its action)`` is complete when the seat is next to move (its next
    state, reward 0) or when the game ends (terminal, its reward: +1 win, -1 loss or
    illegal move, 0 draw); the step that completes it reports it in
    ``StepResult.learned`` (`dist_classicrl.envs.base.DeferredTransitions`). Each step completes
    the other seat's last move, so every ply of every game is learned once, in the order
    played. The step that ends a game completes two moves (the other seat's, then the
    mover's); the mover's is reported at the copy's next step, the first of the next
    game, which completes none.
    A copy's very first step after ``reset`` reports nothing. So a non-terminal move is
    always reported in the step that completes it, and SARSA's ``a'`` (the action the
    runtime draws next for the copy) is the completing seat's next action.

    ``reward``/``terminated``/``truncated`` of the step describe the game, for the episode
    statistics: an episode is a game and its return is the *first* seat's result, so the
    training curve's mean return is the first mover's advantage. A game cut by a
    truncation completes no pending move (no seat gets to move again).
Evaluation
    ``tictactoe_v3``: exact, by the built-in TicTacToe's enumeration (the encodings are
    the same): ``win_rate``/``draw_rate``/``loss_rate`` against the random player and
    ``vs_perfect_*`` against the perfect player, each seat half of the games. Other games:
    `eval_episodes` sampled games against a uniformly random player.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from gymnasium import spaces

from dist_classicrl.envs.base import DeferredTransitions, DistClassicRLEnv, StepResult
from dist_classicrl.envs.tictactoe import REPORT_KEYS, greedy_report
from dist_classicrl.errors import ConfigError, needs_extra

#: The largest number of board codes a Q-table is built for.
MAX_STATES = 3**15


@cache
def classic_games() -> dict[str, Any]:
    """PettingZoo's registered classic AEC games by id (``tictactoe_v3``, ...): specs."""
    try:
        import pettingzoo
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "pettingzoo":
            raise
        raise needs_extra("env.kind=pettingzoo", "pettingzoo") from None

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
        if (getattr(exc, "name", None) or "").partition(".")[0] == "pygame":
            raise needs_extra(f"env.id={game_id}", "pettingzoo") from None
        raise ConfigError(f"env.id={game_id}: the game cannot be imported: {exc}") from None
    return getattr(module, "raw_env", getattr(module, attr))


class BoardEncoder:
    """Board of 0/1 planes ``(..., P)`` -> one integer (module docstring)."""

    def __init__(self, game_id: str, space: spaces.Space, n_actions: int) -> None:
        board = space.get("observation") if isinstance(space, spaces.Dict) else None
        if (
            board is None
            or not isinstance(space, spaces.Dict)  # (never true here: narrows for mypy)
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


#: A completed move: (state, action, reward, next state, terminated, next mask or None).
Move = tuple[int, int, float, int, bool, Any]


class PettingZooSelfPlayEnv(DistClassicRLEnv):
    """Self-play over `num_envs` copies of a PettingZoo classic game (module docstring)."""

    #: What an episode's return is here (the job's learning-curve plot says so).
    training_return_label = "training: first seat's result (self-play)"

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
        self.agents = agents
        self.eval_episodes = eval_episodes
        self.rng = np.random.default_rng(seed)
        # per copy: each seat's move awaiting the other's reply; completed, unreported moves
        self._pending: list[dict[str, tuple[int, int]]] = [{} for _ in range(num_envs)]
        self._done: list[deque[Move]] = [deque() for _ in range(num_envs)]
        self._codes = np.zeros(num_envs, dtype=np.int64)  # the movers' states
        self._masks = np.zeros((num_envs, self.n_actions), dtype=np.bool_)

    @property
    def has_action_mask(self) -> bool:
        return True

    # ------------------------------------------------------------------ playing

    def _observe(self, game: Any, seat: str) -> tuple[int, np.ndarray]:
        obs = game.observe(seat)
        return self.encode(obs["observation"]), obs["action_mask"].astype(np.bool_)

    def _new_episode(self, i: int) -> tuple[int, np.ndarray]:
        game = self.games[i]
        game.reset(seed=int(self.rng.integers(2**31)))
        self._pending[i].clear()
        return self._observe(game, game.agent_selection)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        obs = np.empty(self.num_envs, dtype=np.int64)
        mask = np.empty((self.num_envs, self.n_actions), dtype=np.bool_)
        for i in range(self.num_envs):
            self._done[i].clear()
            obs[i], mask[i] = self._new_episode(i)
        self._codes, self._masks = obs, mask
        return obs, mask

    def _play(self, i: int, action: int) -> tuple[bool, bool, float, int, np.ndarray | None]:
        """The mover of copy `i` plays `action`; queue the moves this completes. Returns
        (game over, game cut, the first seat's reward, the next state, its mask): the next
        mover's state and mask while the game goes on, else the mover's final state."""
        game, pending, done = self.games[i], self._pending[i], self._done[i]
        mover = game.agent_selection
        other = self.agents[1 - self.agents.index(mover)]
        state = int(self._codes[i])
        legal = 0 <= action < self.n_actions and self._masks[i, action]
        if legal:
            game.step(action)
            over, cut = game.terminations[mover], game.truncations[mover]
            rewards = {seat: float(game.rewards[seat]) for seat in self.agents}
        else:  # as TerminateIllegalWrapper: the mover loses, the board is kept
            over, cut, rewards = True, False, {mover: -1.0, other: 0.0}
        if over:  # both seats' last moves are complete, reported in the order played
            if other in pending:
                final = self._observe(game, other)[0]
                done.append((*pending.pop(other), rewards[other], final, True, None))
            after = self._observe(game, mover)[0] if legal else state
            done.append((state, action, rewards[mover], after, True, None))
            return True, False, rewards[self.agents[0]], after, None
        if cut:  # nobody moves again: the pending moves cannot complete
            return False, True, rewards[self.agents[0]], self._observe(game, mover)[0], None
        pending[mover] = (state, action)
        code, mask = self._observe(game, other)  # the other seat is to move
        if other in pending:
            done.append((*pending.pop(other), 0.0, code, False, mask))
        return False, False, 0.0, code, mask

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
            learned=DeferredTransitions(
                valid=np.zeros(n, dtype=np.bool_),
                obs=np.zeros(n, dtype=np.int64),
                actions=np.zeros(n, dtype=np.int64),
                reward=np.zeros(n),
                next_obs=np.zeros(n, dtype=np.int64),
                terminated=np.zeros(n, dtype=np.bool_),
                next_mask=np.zeros((n, a), dtype=np.bool_),
            ),
        )
        learned = out.learned
        # all built just above: narrows the optional fields for mypy
        assert learned is not None and learned.next_mask is not None
        assert out.next_mask is not None and out.mask is not None
        for i in range(n):
            over, cut, first_reward, after, mask = self._play(i, int(actions[i]))
            out.next_obs[i], out.reward[i] = after, first_reward
            out.terminated[i], out.truncated[i] = over, cut
            if over or cut:
                code, mask = self._new_episode(i)
            else:
                code = after
                out.next_mask[i] = mask
            out.obs[i], out.mask[i] = code, mask
            if self._done[i]:  # one a step; an ended game leaves one for the next step
                state, action, reward, nxt, terminal, nxt_mask = self._done[i].popleft()
                learned.valid[i] = True
                learned.obs[i], learned.actions[i], learned.reward[i] = state, action, reward
                learned.next_obs[i], learned.terminated[i] = nxt, terminal
                if nxt_mask is not None:
                    learned.next_mask[i] = nxt_mask
        self._codes, self._masks = out.obs, out.mask
        return out

    def close(self) -> None:
        for game in self.games:
            game.close()

    # --------------------------------------------------------------- evaluation

    @property
    def evaluation_keys(self) -> tuple[str, ...]:  # type: ignore[override]  # by game
        if self.game_id == "tictactoe_v3":
            return REPORT_KEYS
        return ("mean_return", "win_rate", "draw_rate", "loss_rate")

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
