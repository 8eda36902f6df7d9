"""Blackjack-v1 as an exact tabular MDP, so that it trains compiled (`TabularEnv`).

Description
    Gymnasium's Blackjack draws every card with replacement from ``1..9, 10, 10, 10, 10``
    (an infinite deck). Its observation ``(player sum, dealer's card, usable ace)`` is
    then a Markov state: the player's future cards do not depend on how the sum was
    reached, and the dealer's hidden card and draws are independent of the player's. So
    the env has an exact transition table, built here from its rules; Gymnasium has none.

States and actions
    The 704 indices of ``FlattenMultiDiscreteWrapper`` (``np.ravel_multi_index`` over
    ``(32, 11, 2)``), computed with that wrapper's own ``observation``; actions 0 = stick,
    1 = hit.

Dynamics (Gymnasium's ``step``)
    Hit: draw a card; a sum over 21 ends the episode with reward -1, otherwise reward 0.
    Stick: the dealer draws until their sum (a usable ace counts 11) is at least 17; the
    episode ends with +1, 0 or -1 by comparing the scores (a bust scores 0). The start
    distribution is that of two player cards and the dealer's shown card.

Not modelled
    ``natural=True`` and ``sab=True`` pay a natural (two-card 21) differently from any
    other soft 21, which the observation cannot tell apart: those envs keep the
    ``gymnasium.vector`` path (`rules_model` returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.blackjack import BlackjackEnv

from dist_classicrl.envs.tabular_model import TabularModel
from dist_classicrl.wrappers import (
    FlattenDiscreteAction,
    FlattenDiscreteObservation,
    FlattenMultiDiscreteWrapper,
)

#: Card values and their probabilities (face cards count 10).
CARDS = np.arange(1, 11)
CARD_PROBS = np.array([1 / 13] * 9 + [4 / 13])
STICK, HIT = 0, 1


def _hand(raw: int | np.integer, has_ace: bool) -> tuple[Any, int]:
    """(sum as Gymnasium counts it, usable ace) of a hand with raw sum `raw` (the sum is
    a NumPy integer when `raw` is one: `CARDS` are)."""
    usable = has_ace and raw + 10 <= 21
    return raw + 10 * usable, int(usable)


@cache
def _dealer_from(raw: int, has_ace: bool) -> dict[int, float]:
    """Distribution of the dealer's final score (0 = bust) from a hand."""
    total, _ = _hand(raw, has_ace)
    if total >= 17:
        return {0 if total > 21 else total: 1.0}
    out: dict[int, float] = {}
    for card, p in zip(CARDS, CARD_PROBS, strict=True):
        for score, q in _dealer_from(raw + card, has_ace or card == 1).items():
            out[score] = out.get(score, 0.0) + p * q
    return out


def dealer_scores(shown: int) -> dict[int, float]:
    """Distribution of the dealer's final score given the shown card (hidden card drawn)."""
    out: dict[int, float] = {}
    for card, p in zip(CARDS, CARD_PROBS, strict=True):
        for score, q in _dealer_from(shown + card, shown == 1 or card == 1).items():
            out[score] = out.get(score, 0.0) + p * q
    return out


def blackjack_model(index: Callable[[tuple], int]) -> TabularModel:
    """The exact model, states numbered by ``index((player sum, dealer card, usable ace))``."""
    n_states, k = 32 * 11 * 2, len(CARDS)
    probs = np.zeros((n_states, 2, k))
    next_states = np.zeros((n_states, 2, k), dtype=np.int64)
    rewards = np.zeros((n_states, 2, k))
    terminated = np.zeros((n_states, 2, k), dtype=np.bool_)
    n_outcomes = np.zeros((n_states, 2), dtype=np.int64)
    for player in range(32):
        for dealer in range(11):
            for ace in range(2):
                s = index((player, dealer, ace))
                _stick(s, player, dealer, probs, next_states, rewards, terminated, n_outcomes)
                raw = player - 10 * ace
                for j, (card, p) in enumerate(zip(CARDS, CARD_PROBS, strict=True)):
                    # without a usable ace, a raw sum <= 10 holds no ace: an ace drawn counts 11
                    total, usable = _hand(raw + card, ace == 1 or (card == 1 and raw <= 10))
                    probs[s, HIT, j] = p
                    next_states[s, HIT, j] = index((min(total, 31), dealer, usable))
                    rewards[s, HIT, j] = -1.0 if total > 21 else 0.0
                    terminated[s, HIT, j] = total > 21
                n_outcomes[s, HIT] = k
    initial = np.zeros(n_states)
    for c1, p1 in zip(CARDS, CARD_PROBS, strict=True):
        for c2, p2 in zip(CARDS, CARD_PROBS, strict=True):
            total, usable = _hand(c1 + c2, 1 in (c1, c2))
            for shown, p3 in zip(CARDS, CARD_PROBS, strict=True):
                initial[index((total, shown, usable))] += p1 * p2 * p3
    return TabularModel(probs, next_states, rewards, terminated, n_outcomes, initial)


def _stick(s, player, dealer, probs, next_states, rewards, terminated, n_outcomes) -> None:
    """Fill the stick outcomes of state `s`: win, draw, loss (all terminal)."""
    scores = dealer_scores(dealer) if dealer >= 1 else {0: 1.0}  # dealer 0 never observed
    win = sum(q for score, q in scores.items() if player > score)
    loss = sum(q for score, q in scores.items() if player < score)
    for j, (p, r) in enumerate(((win, 1.0), (1.0 - win - loss, 0.0), (loss, -1.0))):
        probs[s, STICK, j], rewards[s, STICK, j] = p, r
        next_states[s, STICK, j], terminated[s, STICK, j] = s, True
    n_outcomes[s, STICK] = 3


def rules_model(env: gym.Env) -> TabularModel | None:
    """The exact model of a wrapped env, when one is written for it (module docstring)."""
    unwrapped = env.unwrapped
    if not isinstance(unwrapped, BlackjackEnv) or unwrapped.natural or unwrapped.sab:
        return None
    if isinstance(env, FlattenMultiDiscreteWrapper):
        if env.env.observation_space != unwrapped.observation_space:
            return None
        return blackjack_model(env.observation)
    flatten = env
    while isinstance(flatten, FlattenDiscreteAction):  # leaves observations as they are
        flatten = flatten.env
    if not isinstance(flatten, FlattenDiscreteObservation) or (
        flatten.env.observation_space != unwrapped.observation_space
    ):
        return None
    return blackjack_model(flatten.observation)
