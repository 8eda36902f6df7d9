"""Fused training kernels of the ``optimal`` variant: choose, step, learn in one Numba loop.

For an env that steps inside Numba (`TicTacToeEnv`, `TabularEnv`) there is no reason to
return to Python between steps. A kernel here runs ``n_steps`` env transitions over the
env's own state arrays, with exactly the semantics and the random-number order of the
unfused path (``select_actions`` -> env ``step`` -> ``batch_update``, batch by batch), so
that both paths give bit-identical Q-tables for the same seeds. Per vector step:

1. every copy chooses its action (epsilon-greedy over legal actions) from the table;
2. every copy steps, and the transition's target is computed from the table as it was
   before the batch (nothing has been updated yet);
3. the updates are applied in batch order (the documented batch semantics).

Under Q-learning and Expected SARSA the TicTacToe kernel runs 1 and 2 copy by copy (a
copy chooses, then steps): no update happens before 3, and the agent's and the env's
random streams are separate, so every choice reads the same table and each stream draws
in the same order as in two loops, while the CPU overlaps the two streams' dependency
chains (measured in one process against the two-loop kernel: 1.18x at 64 envs, median of
9 pairs; the tabular kernel showed no gain and keeps two loops).

Under SARSA (``rule`` code, `algorithms.rules`) step 1 happens only once per trainer:
after step 2 every copy draws the action it executes next, which is also the ``a'`` of
its target, and a truncated copy draws one more for its true next state after the whole
batch's draws (`BaseAlgorithm.next_actions`). The agent's and the env's random streams
are separate, so only the order within each stream has to match the unfused path.

What bounds the speed: two to four random draws and two 9-wide scans of a table row per
step; the touched rows fit in L2, so memory is not the limit. Nothing is allocated.

What it must not pay: an array passed to an ``inline="always"`` helper becomes a new
reference inside the kernel, an atomic increment and decrement per call, which Numba's
pruning removes only when one array is passed (several interleaved pairs survive). The
TicTacToe kernel therefore reads the game's tables as module constants (`envs.tictactoe`)
and its hot helpers take at most one array. With ten atomic operations per step it ran
at 0.44x / 0.39x (1 / 64 envs) the speed of a hand-written TicTacToe-only kernel; without
them, with float32 maxima and unsigned state codes, at 1.15x / 1.02x
(``python -m benchmarks.reference_tictactoe``, issue 18, 2026-12-04); on the AMD EPYC of
2026-12-07 the same code read 1.0x / 0.82x, and with 1 and 2 run copy by copy
0.90-1.0x / 0.83-0.99x (six runs).
"""

from __future__ import annotations

import numpy as np

from dist_classicrl.algorithms.rules import (
    EXPECTED_SARSA,
    RULES,
    SARSA,
    expected_value,
    td_update,
)
from dist_classicrl.envs import tabular as _tab
from dist_classicrl.envs import tictactoe as _ttt
from dist_classicrl.envs.tictactoe import _EMPTY_CELLS, MINIMAX, RANDOM, SELF
from dist_classicrl.jit import njit
from dist_classicrl.rng import below, randint, split, uniform, unit

#: The start of a max over float32 table values: comparing in float32 spares a conversion
#: per value and gives the same maxima (float32 values compare the same in float64).
_MINUS_INF = np.float32(-np.inf)


@njit(cache=True, inline="always")
def _record(i, reward, done, running_return, running_length, totals):
    running_return[i] += reward
    running_length[i] += 1
    if done:
        totals[0] += 1.0
        totals[1] += running_return[i]
        totals[2] += running_return[i] * running_return[i]
        totals[3] += running_length[i]
        running_return[i] = 0.0
        running_length[i] = 0


@njit(cache=True, inline="always")
def _choose_tictactoe(q, s, n_legal, epsilon, x):
    """Epsilon-greedy over the empty cells of `s` (the draws of `select_actions_kernel`):
    ``(action, x)``, `x` the agent's RNG state as a local (`rng.split`), returned advanced.
    One array argument: Numba prunes its reference counting once inlined, where a second
    array's (the state as ``uint64[1]``) survived and cost the kernel 0.81x / 0.65x."""
    u = np.uint64(s)  # unsigned: see `_ttt._play_vs_random`
    x, bits = split(x)
    if unit(bits) < epsilon:
        x, bits = split(x)
        return np.int64(_EMPTY_CELLS[u, below(bits, n_legal)]), x
    best, best_value = 0, _MINUS_INF
    for j in range(n_legal):  # cells ascending: ties keep the lowest
        a = _EMPTY_CELLS[u, j]
        if q[u, a] > best_value:
            best, best_value = a, q[u, a]
    return np.int64(best), x


@njit(cache=True, inline="always")
def _choose_tabular(q, s, n_actions, epsilon, agent_rng):
    """Epsilon-greedy over all actions (the draws of `select_actions_kernel`)."""
    if uniform(agent_rng) < epsilon:
        return np.int64(randint(agent_rng, n_actions))  # int64: uint64 would unify to float
    best, best_value = 0, q[s, 0]
    for a in range(1, n_actions):
        if q[s, a] > best_value:
            best, best_value = a, q[s, a]
    return best


@njit(cache=True, inline="always")
def _tictactoe_value(q, s2, n_legal, rule, epsilon):
    """Q-learning's or Expected SARSA's value of `s2` over its empty cells."""
    best = _MINUS_INF
    if rule == EXPECTED_SARSA:
        total = 0.0
        for j in range(n_legal):  # cells ascending: the order of `optimal._bootstrap`
            a = _EMPTY_CELLS[s2, j]
            total += q[s2, a]
            if q[s2, a] > best:  # `max(best, .)`, without its compiled builtin
                best = q[s2, a]
        return expected_value(best, total, n_legal, epsilon)
    u = np.uint64(s2)  # unsigned: see `_ttt._play_vs_random`
    for j in range(n_legal):
        a = _EMPTY_CELLS[u, j]
        if q[u, a] > best:
            best = q[u, a]
    return best


@njit(cache=True, inline="always")
def _tabular_value(q, s2, n_actions, rule, epsilon):
    """Q-learning's or Expected SARSA's value of `s2` (no mask: every action is legal)."""
    best = q[s2, 0]
    if rule == EXPECTED_SARSA:
        total = 0.0
        for b in range(n_actions):  # the order of `optimal._bootstrap`: same float sums
            total += q[s2, b]
            if q[s2, b] > best:  # `max(best, .)`, without its compiled builtin
                best = q[s2, b]
        return expected_value(best, total, n_actions, epsilon)
    for b in range(1, n_actions):  # direct indexing: no row view per step
        if q[s2, b] > best:
            best = q[s2, b]
    return best


# One compiled kernel per (opponent, rule), both constants of a closure. Numba's
# dead-branch pruning reads a freevar's value (not a `numba.literally` argument's), so it
# drops the other opponents' and rules' code before typing: a job compiles only what it
# runs, and LLVM keeps no other branch in the hot loop (with the opponent a run-time value
# the random opponent's loop cost ~40% more). Against `literally(kind)` with the rule at
# run time: first run of the default job 7.8 -> 3.7 s (median of 3 pairs,
# ``NUMBA_CACHE_DIR=$(mktemp -d) /usr/bin/time python -m dist_classicrl.run``, 2026-12-07),
# the kernel 1.01-1.05x as fast (in one process, bit-identical tables).
def _tictactoe_kernel(kind: int, rule: int):
    """The fused TicTacToe kernel against opponent `kind` under `rule` (see `train`)."""

    @njit(cache=True)  # cached per closure value: Numba's cache key hashes the cells
    def train(args):
        """`n_steps` learned transitions over the TicTacToe copies in ``codes``/``counts``; a
        last partial batch steps every copy but learns from the first ones only (as
        unfused). ``opponent_tables`` are the tables of `TicTacToeEnv.opponent_args`;
        ``self`` plays from `q` with `epsilon`, the table as it is before the batch's
        updates (as unfused), drawing from the env's stream. Under SARSA ``actions``
        carries the next actions between calls (``carried[0]`` says they are drawn), drawn
        from the agent's stream."""
        (
            q,
            n_steps,
            epsilon,
            learning_rate,
            discount,
            agent_rng,
            codes,
            counts,
            env_rng,
            opponent_tables,
            actions,
            states,
            targets,
            running_return,
            running_length,
            totals,
            visits,
            count_visits,
            next_actions,
            carried,
        ) = args  # one tuple: the arguments the kernels share
        n = codes.shape[0]
        swap, best_cells, n_best = opponent_tables
        if rule != SARSA:
            carried[0] = False  # nothing is carried between calls under the other rules
        # The two RNG states live in locals (registers) for the whole call and go back to
        # their arrays at the end, and around the other opponents' helpers that draw from
        # the env's array: each draw is then an add in a register, not a store and a load
        # in the draws' dependency chain.
        # 0. start the copies `TicTacToeEnv.reset_unstarted` left UNSTARTED, before any
        # agent draw: the env's `reset_all` draws the same numbers (the same helpers)
        if kind == RANDOM:  # pruned before typing, as below
            env_rng[0] = _ttt._start_unstarted_vs_random(codes, counts, env_rng[0])
        else:
            _ttt._start_unstarted(
                codes, counts, env_rng, kind, swap, best_cells, n_best, q, epsilon
            )
        ax, ex = agent_rng[0], env_rng[0]
        done_steps = 0
        while done_steps < n_steps:
            # Not `min(n, left)` (nor `max` below): Numba compiles those builtins as
            # functions of their own, about 20 ms each of a job's first run
            left = n_steps - done_steps
            take = n if n <= left else left
            # 1. choose. Under Q-learning each copy chooses just before it steps (in 2.): the
            # agent's and the env's draws then alternate, two dependency chains the CPU runs
            # side by side, where a loop of each ran one chain at a time; each stream's
            # order, and the pre-batch table every choice reads, are unchanged. SARSA draws
            # its first actions here, then in 2.
            choose_in_step = rule != SARSA
            if rule == SARSA and not carried[0]:
                for i in range(n):
                    actions[i], ax = _choose_tictactoe(q, codes[i], 9 - counts[i], epsilon, ax)
                carried[0] = True
            for i in range(n):  # 2. step, target from the pre-batch table, auto-reset
                s = codes[i]
                states[i] = s
                if choose_in_step:
                    actions[i], ax = _choose_tictactoe(q, s, 9 - counts[i], epsilon, ax)
                if kind == RANDOM:  # pruned before typing: `kind` is a constant
                    s2, count, reward, done, ex = _ttt._play_vs_random(s, counts[i], actions[i], ex)
                else:
                    env_rng[0] = ex
                    s2, count, reward, done = _ttt._play(
                        s,
                        counts[i],
                        actions[i],
                        env_rng,
                        kind,
                        swap,
                        best_cells,
                        n_best,
                        q,
                        epsilon,
                    )
                    ex = env_rng[0]
                boot = 0.0
                if not done:
                    if rule == SARSA:  # a' = the action executed next (no truncation in this game)
                        next_actions[i], ax = _choose_tictactoe(q, s2, 9 - count, epsilon, ax)
                        boot = q[s2, next_actions[i]]
                    else:
                        boot = _tictactoe_value(q, s2, 9 - count, rule, epsilon)
                targets[i] = reward + discount * boot
                if i < take:
                    _record(i, reward, done, running_return, running_length, totals)
                if done:
                    if kind == RANDOM:
                        s2, count, ex = _ttt._start_vs_random(ex)
                    else:
                        env_rng[0] = ex
                        s2, count = _ttt._start(env_rng, kind, swap, best_cells, n_best, q, epsilon)
                        ex = env_rng[0]
                    if rule == SARSA:  # the new episode's first action
                        next_actions[i], ax = _choose_tictactoe(q, s2, 9 - count, epsilon, ax)
                codes[i], counts[i] = s2, count
            for i in range(take):  # 3. learn, in batch order
                s, a = states[i], actions[i]
                q[s, a] = td_update(q[s, a], targets[i], learning_rate)
                if count_visits:  # the parallel runtime's merge needs update counts
                    visits[s, a] += 1
            if rule == SARSA:  # an element loop: a slice assignment compiles its error message
                for i in range(actions.shape[0]):
                    actions[i] = next_actions[i]
            done_steps += take
        agent_rng[0], env_rng[0] = ax, ex

    return train


#: The fused TicTacToe kernel for each (``TicTacToeEnv.opponent_args[0]``, rule code).
TRAIN_TICTACTOE = {
    (kind, rule): _tictactoe_kernel(kind, rule)
    for kind in (RANDOM, MINIMAX, SELF)
    for rule in range(len(RULES))
}


@njit(cache=True)
def train_tabular(
    q,
    n_steps,
    epsilon,
    learning_rate,
    discount,
    agent_rng,
    env_states,
    t,
    cum,
    next_states,
    rewards,
    terminated,
    n_outcomes,
    initial_states,
    initial_cum,
    max_steps,
    env_rng,
    actions,
    states,
    targets,
    running_return,
    running_length,
    totals,
    visits,
    count_visits,
    rule,
    next_actions,
    cut_states,
    carried,
):
    """`n_steps` learned transitions over a compiled tabular MDP (see `_tictactoe_kernel`);
    `cut_states` is scratch for the true next states of truncated copies (SARSA)."""
    n = env_states.shape[0]
    if n == 1:  # a batch of one is plain sequential learning: the faster loop below
        _train_tabular_one(
            q,
            n_steps,
            epsilon,
            learning_rate,
            discount,
            agent_rng,
            env_states,
            t,
            cum,
            next_states,
            rewards,
            terminated,
            n_outcomes,
            initial_states,
            initial_cum,
            max_steps,
            env_rng,
            running_return,
            running_length,
            totals,
            visits,
            count_visits,
            rule,
            actions,
            carried,
        )
        return
    n_actions = q.shape[1]
    n_init = initial_cum.shape[0]
    sarsa = rule == SARSA
    done_steps = 0
    while done_steps < n_steps:
        left = n_steps - done_steps  # not `min`: see `_tictactoe_kernel`
        take = n if n <= left else left
        if not (sarsa and carried[0]):
            for i in range(n):
                if uniform(agent_rng) < epsilon:
                    actions[i] = randint(agent_rng, n_actions)
                else:
                    s = env_states[i]
                    best, best_value = 0, q[s, 0]
                    for a in range(1, n_actions):
                        if q[s, a] > best_value:
                            best, best_value = a, q[s, a]
                    actions[i] = best
            carried[0] = sarsa
        for i in range(n):
            s = env_states[i]
            a = actions[i]
            k = _tab._sample_outcome(cum, s, a, n_outcomes[s, a], env_rng)
            s2 = next_states[s, a, k]
            term = terminated[s, a, k]
            reward = rewards[s, a, k]
            t[i] += 1
            trunc = (not term) and max_steps > 0 and t[i] >= max_steps
            boot = 0.0
            if sarsa:
                cut_states[i] = s2 if trunc else -1  # its a' is drawn after the batch's
                if not (term or trunc):
                    next_actions[i] = _choose_tabular(q, s2, n_actions, epsilon, agent_rng)
                    boot = q[s2, next_actions[i]]
            elif not term:
                boot = _tabular_value(q, s2, n_actions, rule, epsilon)
            states[i] = s
            targets[i] = reward + discount * boot
            if i < take:
                _record(i, reward, term or trunc, running_return, running_length, totals)
            if term or trunc:
                s2 = initial_states[_tab._sample(initial_cum, n_init, env_rng)]
                t[i] = 0
                if sarsa:  # the new episode's first action
                    next_actions[i] = _choose_tabular(q, s2, n_actions, epsilon, agent_rng)
            env_states[i] = s2
        if sarsa:
            for i in range(n):  # truncated copies: a' for the true next state, in order
                if cut_states[i] >= 0:
                    s2 = cut_states[i]
                    a2 = _choose_tabular(q, s2, n_actions, epsilon, agent_rng)
                    targets[i] = targets[i] + discount * q[s2, a2]
        for i in range(take):
            s, a = states[i], actions[i]
            q[s, a] = td_update(q[s, a], targets[i], learning_rate)
            if count_visits:  # the parallel runtime's merge needs update counts
                visits[s, a] += 1
        if sarsa:  # an element loop: a slice assignment compiles its error message (2 s)
            for i in range(actions.shape[0]):
                actions[i] = next_actions[i]
        done_steps += take


@njit(cache=True)
def _train_tabular_one(
    q,
    n_steps,
    epsilon,
    learning_rate,
    discount,
    agent_rng,
    env_states,
    t,
    cum,
    next_states,
    rewards,
    terminated,
    n_outcomes,
    initial_states,
    initial_cum,
    max_steps,
    env_rng,
    running_return,
    running_length,
    totals,
    visits,
    count_visits,
    rule,
    actions,
    carried,
):
    """`train_tabular` for one env copy: the same draws in the same order, but the env
    state, step count and running return live in registers instead of arrays, and each
    step learns at once (a batch of one has nothing to wait for). Measured ~15% faster on
    Taxi than the batch loop at ``num_envs=1`` (docs/performance.md)."""
    n_actions = q.shape[1]
    n_init = initial_cum.shape[0]
    sarsa = rule == SARSA
    s, steps_in_episode = env_states[0], t[0]
    episode_return, episode_length = running_return[0], running_length[0]
    a = actions[0]
    if sarsa and not carried[0]:
        a = _choose_tabular(q, s, n_actions, epsilon, agent_rng)
        carried[0] = True
    for _ in range(n_steps):
        if not sarsa:  # `_choose_tabular` written out: its two arrays' reference counts,
            # which inlining keeps, made this loop ~10% slower (Taxi, one env)
            if uniform(agent_rng) < epsilon:
                a = np.int64(randint(agent_rng, n_actions))  # int64: uint64 would unify to float
            else:
                a, best_value = 0, q[s, 0]
                for b in range(1, n_actions):
                    if q[s, b] > best_value:
                        a, best_value = b, q[s, b]
        k = _tab._sample_outcome(cum, s, a, n_outcomes[s, a], env_rng)
        s2 = next_states[s, a, k]
        term = terminated[s, a, k]
        reward = rewards[s, a, k]
        steps_in_episode += 1
        trunc = (not term) and max_steps > 0 and steps_in_episode >= max_steps
        boot = 0.0
        next_s = s2
        if sarsa:  # a' is drawn before the update, for the state acted on next
            if term or trunc:  # the env stream's reset draw, taken early
                next_s = initial_states[_tab._sample(initial_cum, n_init, env_rng)]
            next_a = _choose_tabular(q, next_s, n_actions, epsilon, agent_rng)
            if trunc:  # next_a belongs to the new episode: s2 draws its own a'
                boot = q[s2, _choose_tabular(q, s2, n_actions, epsilon, agent_rng)]
            elif not term:
                boot = q[s2, next_a]
            a_taken, a = a, next_a
        else:
            a_taken = a
            if not term:
                boot = _tabular_value(q, s2, n_actions, rule, epsilon)
        q[s, a_taken] = td_update(q[s, a_taken], reward + discount * boot, learning_rate)
        if count_visits:
            visits[s, a_taken] += 1
        episode_return += reward
        episode_length += 1
        if term or trunc:
            totals[0] += 1.0
            totals[1] += episode_return
            totals[2] += episode_return * episode_return
            totals[3] += episode_length
            episode_return, episode_length = 0.0, 0
            if not sarsa:
                next_s = initial_states[_tab._sample(initial_cum, n_init, env_rng)]
            steps_in_episode = 0
        s = next_s
    env_states[0], t[0] = s, steps_in_episode
    running_return[0], running_length[0] = episode_return, episode_length
    actions[0] = a
