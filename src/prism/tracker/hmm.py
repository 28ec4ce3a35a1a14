"""Baseline: a first-order HMM over steps + "other", without durations or done sets.

This is the classic smoothing a transition graph gives when step durations are
geometric and the tracker cannot remember which steps are done. The evaluation runs it
beside :class:`~prism.tracker.StepTracker` to show what durations and done sets add.
"""

from __future__ import annotations

import numpy as np

from prism.procedure.model import Procedure

__all__ = ["duration_free_hmm", "forward_filter"]


def duration_free_hmm(procedure: Procedure, *, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Transition matrix and initial distribution of the duration-free HMM.

    States ``0 .. S-1`` are the steps and ``S`` is "other" (so states equal classes).
    A step stays with probability ``1 - 1 / mean_frames``; when it ends the user goes to
    "other" with the procedure's gap probability (or when the graph says the procedure
    ends), otherwise straight to a next step by the transition graph. "Other" forgets
    the previous step: it leaves to steps in proportion to the graph's average incoming
    probability.

    Returns
    -------
    transition : np.ndarray [shape=(S + 1, S + 1), rows sum to 1]
    initial : np.ndarray [shape=(S + 1,), sums to 1]
    """
    n = procedure.n_steps
    graph = procedure.transition_matrix()
    gap = procedure.gap.probability
    transition = np.zeros((n + 1, n + 1))
    for i, step in enumerate(procedure.steps):
        leave = min(1.0, 1.0 / max(step.duration.mean * frame_rate, 1.0))
        transition[i, i] = 1.0 - leave
        transition[i, :n] += leave * (1.0 - gap) * graph[i, :n]
        transition[i, n] += leave * (gap + (1.0 - gap) * graph[i, n])
    incoming = graph[:, :n].mean(axis=0)
    leave_other = min(1.0, 1.0 / max(procedure.gap.duration.mean * frame_rate, 1.0))
    transition[n, n] = 1.0 - leave_other
    transition[n, :n] = leave_other * incoming / incoming.sum()
    initial = np.concatenate([0.5 * graph[n, :n], [0.5 + 0.5 * graph[n, n]]])
    return transition / transition.sum(axis=1, keepdims=True), initial / initial.sum()


def forward_filter(
    probabilities: np.ndarray,
    transition: np.ndarray,
    initial: np.ndarray,
    *,
    emission_weight: float = 1.0,
) -> np.ndarray:
    """Online (filtered) state posteriors of an HMM whose states are the classes.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n_frames, K), rows sum to 1]
        Classifier posteriors used as (scaled) likelihoods.
    transition : np.ndarray [shape=(K, K), rows sum to 1]
    initial : np.ndarray [shape=(K,), sums to 1]
    emission_weight : float
        Exponent on the classifier probabilities.

    Returns
    -------
    np.ndarray [shape=(n_frames, K), rows sum to 1]
        ``p(state_t | frames 0..t)``.

    Examples
    --------
    >>> a = np.array([[0.9, 0.1], [0.1, 0.9]])
    >>> forward_filter(np.array([[0.5, 0.5]]), a, np.array([0.5, 0.5])).tolist()
    [[0.5, 0.5]]
    """
    likelihood = np.maximum(probabilities, 1e-6) ** emission_weight
    posteriors = np.empty_like(likelihood)
    if likelihood.shape[0] == 0:
        return np.asarray(posteriors)
    belief = initial * likelihood[0]
    posteriors[0] = belief / belief.sum()
    for t in range(1, likelihood.shape[0]):
        belief = (posteriors[t - 1] @ transition) * likelihood[t]
        posteriors[t] = belief / belief.sum()
    return np.asarray(posteriors)
