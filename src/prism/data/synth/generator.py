"""Semi-synthetic sessions: real step orders and durations, real or modelled wrist motion,
synthesized activity sounds.

What is real and what is not, per session:

- **Step order, durations and gaps**: sampled from the procedure's transition graph and
  duration statistics (:func:`prism.data.sampling.sample_session`; the statistics of
  learned procedures come from real annotated sessions), or copied from one real
  annotated session (e.g. a CaptainCook4D recording) given as ``source_session``.
- **IMU**: real OpenPack right-wrist segments (a :class:`~prism.data.synth.motion.MotionBank`)
  or per-step parametric models; see :mod:`prism.data.synth.motion`.
- **Audio**: synthesized per-step textures (:mod:`prism.data.synth.audio_textures`, kind
  chosen by :mod:`prism.data.synth.keywords`) plus room background (pink/brown noise,
  sometimes chatter) mixed at a signal-to-noise ratio drawn per session.
- **Per-user variation**: a :class:`~prism.data.synth.profiles.UserProfile` (pace, tempo,
  loudness, timbre, watch orientation, motion scale, sensor noise).

Every recording says ``synthetic: true`` in its metadata, with the generator version, the
seed, the user, the SNR and the sources of motion and labels. The same seed gives the
same files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from prism.data.annotations import AnnotatedSession
from prism.data.recording import AUDIO_RATE_HZ, IMU_RATE_HZ, Recording, write_recording
from prism.data.sampling import sample_session
from prism.data.synth.audio_textures import (
    TextureParams,
    background_noise,
    rms,
    texture,
)
from prism.data.synth.keywords import sound_kinds
from prism.data.synth.mixing import measure_snr_db, mix_at_snr
from prism.data.synth.motion import MotionBank, render_imu, step_motions
from prism.data.synth.profiles import UserProfile, make_user_profile
from prism.data.synth.seeding import SeedLike, as_generator, derive_seed, stable_seed
from prism.errors import DataError
from prism.procedure.model import Procedure

__all__ = [
    "DATASET_FORMAT",
    "DEFAULT_SNR_DB_RANGE",
    "GENERATOR_VERSION",
    "AudioMix",
    "StepSound",
    "render_audio",
    "step_sounds",
    "synthesize_dataset",
    "synthesize_session",
    "timeline",
]

GENERATOR_VERSION = "1"
"""Bumped whenever the same seed would give different files."""
DATASET_FORMAT = "prism-synth-dataset/1"
"""``format`` of the ``manifest.json`` written by :func:`synthesize_dataset`."""
DEFAULT_SNR_DB_RANGE = (0.0, 20.0)
"""Range (dB) of the per-session signal-to-noise ratio."""

_PEAK = 0.99
_GAP_DISTRACTORS = ("tapping", "rustle", "handling")


# ---------------------------------------------------------------- timeline and sounds


def timeline(session: AnnotatedSession) -> list[tuple[str | None, float, float]]:
    """Split ``[0, duration]`` into labelled intervals: ``(step id or None, start, end)``.

    Follows :func:`prism.data.annotations.frame_labels`: a step covers
    ``[start, min(end, next step's start))``; time in no step is "other" (None).

    >>> from prism.data.annotations import StepSegment
    >>> a, b = StepSegment("a", 1.0, 3.0), StepSegment("b", 2.0, 4.0)
    >>> timeline(AnnotatedSession("x", "t", (a, b), 5.0))
    [(None, 0.0, 1.0), ('a', 1.0, 2.0), ('b', 2.0, 4.0), (None, 4.0, 5.0)]
    """
    ordered = sorted(session.segments, key=lambda s: s.start)
    intervals: list[tuple[str | None, float, float]] = []
    cursor = 0.0
    for i, segment in enumerate(ordered):
        start = max(segment.start, cursor)
        end = min(segment.end, ordered[i + 1].start) if i + 1 < len(ordered) else segment.end
        end = min(end, session.duration)
        if end <= start:
            continue
        if start > cursor:
            intervals.append((None, cursor, start))
        intervals.append((segment.step, start, end))
        cursor = end
    if cursor < session.duration:
        intervals.append((None, cursor, session.duration))
    return intervals


@dataclass(frozen=True)
class StepSound:
    """A step's sound: texture kind and its fixed (per task and step) timbre and tempo."""

    kind: str
    timbre: float
    tempo: float


def step_sounds(procedure: Procedure) -> dict[str, StepSound]:
    """Step id -> its sound, from keywords and a hash of the task and step id.

    Timbre is drawn log-uniformly in [0.75, 1.33] ([0.5, 2.0] for ``handling``, so steps
    without a keyword still differ), tempo in [0.8, 1.25].
    """
    kinds = sound_kinds(procedure)
    sounds = {}
    for step_id, kind in kinds.items():
        draw = np.random.default_rng(stable_seed(procedure.id, step_id, "sound"))
        spread = 1.0 if kind == "handling" else 0.41
        sounds[step_id] = StepSound(
            kind=kind,
            timbre=round(float(2.0 ** draw.uniform(-spread, spread)), 4),
            tempo=round(float(draw.uniform(0.8, 1.25)), 4),
        )
    return sounds


@dataclass(frozen=True, eq=False)
class AudioMix:
    """A session's audio and its parts.

    Attributes
    ----------
    signal : np.ndarray [shape=(n,), float64]
        Activity sounds only (steps and "other" time).
    noise : np.ndarray [shape=(n,), float64]
        Background noise as mixed in.
    mixture : np.ndarray [shape=(n,), float32, in [-1, 1]]
        ``signal + noise``: what the microphone records.
    snr_db : float
        The requested signal-to-noise ratio (dB).
    """

    signal: np.ndarray
    noise: np.ndarray
    mixture: np.ndarray
    snr_db: float

    @property
    def measured_snr_db(self) -> float:
        """``10 log10(P_signal / P_noise)`` measured on :attr:`signal` and :attr:`noise`."""
        return measure_snr_db(self.signal, self.noise)


def _add(buffer: np.ndarray, start_s: float, sound: np.ndarray, rate: int) -> None:
    first = min(max(round(start_s * rate), 0), buffer.size)
    stop = min(first + sound.size, buffer.size)
    buffer[first:stop] += sound[: stop - first]


def render_audio(
    session: AnnotatedSession,
    procedure: Procedure,
    *,
    profile: UserProfile,
    rng: np.random.Generator,
    snr_db: float,
    rate: int = AUDIO_RATE_HZ,
) -> AudioMix:
    """Synthesize the microphone signal of a session.

    Each step segment (its whole annotated span, so a step that overlaps the next keeps
    sounding) plays its :func:`step_sounds` texture with the user's gain, timbre and
    tempo; "other" intervals play quiet handling with a random timbre and, with
    probability 0.3, a 0.5-2 s distractor (tapping, rustle or handling). The background
    (:func:`~prism.data.synth.audio_textures.background_noise`) is mixed at ``snr_db``
    over the whole session, then everything is scaled down if the peak exceeds 0.99
    (which keeps the SNR).

    Returns
    -------
    AudioMix
        ``floor(duration * rate)`` samples.
    """
    n = math.floor(session.duration * rate + 1e-9)
    if n < 1:
        raise DataError(f"session {session.session_id!r} is too short for audio")
    sounds = step_sounds(procedure)
    gain = 10.0 ** (profile.audio_gain_db / 20.0)
    signal = np.zeros(n)
    for segment in session.segments:
        if segment.step not in sounds:
            raise DataError(
                f"session {session.session_id!r}: step {segment.step!r} is not in procedure "
                f"{procedure.id!r}"
            )
        sound = sounds[segment.step]
        params = TextureParams(
            timbre=sound.timbre * profile.timbre, tempo=sound.tempo * profile.tempo, gain=gain
        )
        span = max(segment.end - segment.start, 0.0)
        _add(signal, segment.start, texture(sound.kind, span, rng, rate=rate, params=params), rate)
    for step, start, end in timeline(session):
        if step is not None or end - start < 0.1:
            continue
        quiet = TextureParams(timbre=float(rng.uniform(0.6, 1.6)), tempo=profile.tempo, gain=gain)
        _add(signal, start, texture("handling", end - start, rng, rate=rate, params=quiet), rate)
        if rng.random() < 0.3:
            length = min(float(rng.uniform(0.5, 2.0)), end - start)
            offset = float(rng.uniform(0.0, end - start - length))
            kind = _GAP_DISTRACTORS[int(rng.integers(len(_GAP_DISTRACTORS)))]
            distractor = TextureParams(timbre=float(rng.uniform(0.7, 1.4)), gain=0.5 * gain)
            _add(
                signal,
                start + offset,
                texture(kind, length, rng, rate=rate, params=distractor),
                rate,
            )
    noise = background_noise(n / rate, rng, rate=rate)[:n]
    if rms(signal) == 0:  # nothing to hear: keep a faint room tone
        scaled = noise * 10.0 ** (-50.0 / 20.0)
        mixture = scaled.copy()
    else:
        mixture, scaled = mix_at_snr(signal, noise, snr_db)
    peak = float(np.abs(mixture).max())
    if peak > _PEAK:
        factor = _PEAK / peak
        signal, scaled, mixture = signal * factor, scaled * factor, mixture * factor
    return AudioMix(
        signal=signal,
        noise=scaled,
        mixture=np.clip(mixture, -1.0, 1.0).astype(np.float32),
        snr_db=snr_db,
    )


# ---------------------------------------------------------------- sessions and data sets


def _check_options(snr_db_range: tuple[float, float], duration_scale: float) -> None:
    low, high = snr_db_range
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise DataError(
            f"snr_db_range must be finite (low, high) with low <= high, got {snr_db_range}"
        )
    if not (math.isfinite(duration_scale) and duration_scale > 0):
        raise DataError(f"duration_scale must be a finite number > 0, got {duration_scale}")


def _source_copy(
    source: AnnotatedSession, procedure: Procedure, session_id: str
) -> AnnotatedSession:
    known = set(procedure.step_ids)
    unknown = sorted({s.step for s in source.segments} - known)
    if unknown:
        raise DataError(
            f"source session {source.session_id!r} has steps {unknown} that procedure "
            f"{procedure.id!r} does not know"
        )
    if not source.segments:
        raise DataError(f"source session {source.session_id!r} has no step segments")
    return AnnotatedSession(
        session_id=session_id,
        task=procedure.id,
        segments=source.segments,
        duration=max(source.duration, max(s.end for s in source.segments)),
        skipped=source.skipped,
    )


def synthesize_session(
    procedure: Procedure,
    *,
    seed: SeedLike,
    session_id: str | None = None,
    user_profile: UserProfile | None = None,
    source_session: AnnotatedSession | None = None,
    snr_db_range: tuple[float, float] = DEFAULT_SNR_DB_RANGE,
    motion_bank: MotionBank | None = None,
    duration_scale: float = 1.0,
    lead_in: float = 2.0,
) -> Recording:
    """Generate one semi-synthetic session (IMU, audio, step labels).

    Parameters
    ----------
    procedure : Procedure
        The task performed; its id is the recording's ``task``.
    seed : int or np.random.Generator
        Everything random comes from here: the same int gives the same recording.
    session_id : str or None
        Default ``"<task>-synth"``.
    user_profile : UserProfile or None
        The user; None draws one (id ``"u0"``) from ``seed``.
    source_session : AnnotatedSession or None
        A real annotated session whose step order and timing are copied (its steps must be
        in ``procedure``); None samples them from the procedure.
    snr_db_range : (float, float)
        The session's SNR is drawn uniformly in this range (dB).
    motion_bank : MotionBank or None
        Real IMU segments (e.g. :func:`~prism.data.synth.motion.build_openpack_bank`); None
        uses the parametric motion models.
    duration_scale : float
        Extra factor (> 0) on sampled step and gap durations (on top of the user's pace),
        e.g. 0.3 for short demo sessions. Not applied to ``source_session``.
    lead_in : float
        Seconds of "other" before the first sampled step.

    Returns
    -------
    Recording
        IMU at 50 Hz, audio at 16 kHz, labels; ``metadata`` keys: ``synthetic`` (True),
        ``generator``, ``generator_version``, ``seed`` (None when a generator was passed),
        ``user``, ``user_profile``, ``snr_db``, ``motion_source`` (``"openpack"`` or
        ``"parametric"``), ``motion_bank``, ``label_source``, ``duration_scale``,
        ``sounds`` (step -> texture kind), ``motion_styles`` (step -> OpenPack operation or
        ``"parametric"``), ``imu_rate_hz``, ``audio_rate_hz``.

    Raises
    ------
    DataError
        On bad options or a source session with unknown steps.

    Examples
    --------
    >>> from prism.procedure.io import load_procedure  # doctest: +SKIP
    >>> latte = load_procedure("tasks/latte_making/procedure.yaml")  # doctest: +SKIP
    >>> rec = synthesize_session(latte, seed=0)  # doctest: +SKIP
    >>> rec.synthetic, rec.imu.values.shape[1], rec.audio.dtype  # doctest: +SKIP
    (True, 6, dtype('float32'))
    """
    _check_options(snr_db_range, duration_scale)
    rng = as_generator(seed)
    plan_rng, audio_rng, imu_rng = rng.spawn(3)
    profile = user_profile if user_profile is not None else make_user_profile("u0", plan_rng)
    name = session_id or f"{procedure.id}-synth"
    if source_session is not None:
        annotation = _source_copy(source_session, procedure, name)
        label_source = f"real annotated session {source_session.task}/{source_session.session_id}"
    else:
        annotation = sample_session(
            procedure,
            plan_rng,
            session_id=name,
            duration_scale=profile.duration_scale * duration_scale,
            lead_in=lead_in,
        )
        label_source = (
            f"sampled from procedure {procedure.id!r} ({procedure.source or 'no source'})"
        )
    snr_db = round(float(plan_rng.uniform(*snr_db_range)), 3)
    audio = render_audio(annotation, procedure, profile=profile, rng=audio_rng, snr_db=snr_db)
    styles = step_motions(procedure.id, procedure.step_ids, motion_bank)
    imu = render_imu(
        timeline(annotation),
        annotation.duration,
        styles=styles,
        profile=profile,
        rng=imu_rng,
        bank=motion_bank,
    )
    metadata: dict[str, Any] = {
        "synthetic": True,
        "generator": "prism.data.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": seed if isinstance(seed, int) else None,
        "user": profile.user_id,
        "user_profile": profile.to_dict(),
        "snr_db": snr_db,
        "snr_db_range": [float(snr_db_range[0]), float(snr_db_range[1])],
        "motion_source": "openpack" if motion_bank is not None else "parametric",
        "motion_bank": motion_bank.description if motion_bank is not None else None,
        "label_source": label_source,
        "duration_scale": duration_scale if source_session is None else 1.0,
        "sounds": {step: sound.kind for step, sound in step_sounds(procedure).items()},
        "motion_styles": {step: style.activity or "parametric" for step, style in styles.items()},
        "imu_rate_hz": IMU_RATE_HZ,
        "audio_rate_hz": AUDIO_RATE_HZ,
    }
    return Recording(
        session_id=name,
        task=procedure.id,
        annotation=annotation,
        imu=imu,
        audio=audio.mixture,
        metadata=metadata,
    )


def synthesize_dataset(
    procedure: Procedure,
    *,
    n_sessions: int,
    seed: int,
    out_dir: Path | str,
    n_users: int = 4,
    snr_db_range: tuple[float, float] = DEFAULT_SNR_DB_RANGE,
    motion_bank: MotionBank | None = None,
    source_sessions: Sequence[AnnotatedSession] | None = None,
    duration_scale: float = 1.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Generate ``n_sessions`` sessions of ``n_users`` users and write them as recordings.

    Session ``k`` is ``<out_dir>/<task>-s<kkk>/`` (see :mod:`prism.data.recording`),
    performed by user ``u<k mod n_users>`` (one :class:`UserProfile` per user, reused
    across their sessions) with seed ``derive_seed(seed, 0, k)`` and, when
    ``source_sessions`` is given, the timing of ``source_sessions[k mod len]``.
    ``<out_dir>/manifest.json`` lists the users, sessions, seeds and SNRs.

    Parameters
    ----------
    procedure : Procedure
        The task.
    n_sessions, n_users : int
        At least 1 each.
    seed : int
        Non-negative; the same seed writes the same files.
    out_dir : Path or str
        Created if needed; existing session folders of the same ids are overwritten.
    snr_db_range, motion_bank, duration_scale
        As in :func:`synthesize_session`.
    source_sessions : sequence of AnnotatedSession or None
        Real sessions to copy step order and timing from (cycled).
    progress : callable (done, total, session_id) or None
        Called after each session is written.

    Returns
    -------
    list of Path
        The recording directories, in session order.
    """
    for name, value, minimum in (
        ("n_sessions", n_sessions, 1),
        ("n_users", n_users, 1),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    _check_options(snr_db_range, duration_scale)
    if source_sessions is not None and not source_sessions:
        raise DataError("source_sessions is empty; pass None to sample sessions from the procedure")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    users = [make_user_profile(f"u{j}", derive_seed(seed, 1, j)) for j in range(n_users)]
    paths: list[Path] = []
    entries: list[dict[str, Any]] = []
    for k in range(n_sessions):
        session_id = f"{procedure.id}-s{k:03d}"
        session_seed = derive_seed(seed, 0, k)
        source = source_sessions[k % len(source_sessions)] if source_sessions else None
        recording = synthesize_session(
            procedure,
            seed=session_seed,
            session_id=session_id,
            user_profile=users[k % n_users],
            source_session=source,
            snr_db_range=snr_db_range,
            motion_bank=motion_bank,
            duration_scale=duration_scale,
        )
        recording = replace(
            recording, metadata={**recording.metadata, "dataset_seed": seed, "session_index": k}
        )
        paths.append(write_recording(recording, root / session_id))
        entries.append(
            {
                "session_id": session_id,
                "user": recording.metadata["user"],
                "seed": session_seed,
                "duration_s": round(recording.duration, 3),
                "snr_db": recording.metadata["snr_db"],
                "steps": len(recording.annotation.segments),
                "label_source": recording.metadata["label_source"],
                "path": session_id,
            }
        )
        if progress is not None:
            progress(k + 1, n_sessions, session_id)
    manifest = _manifest(procedure, seed, users, entries, snr_db_range, motion_bank, duration_scale)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return paths


def _manifest(
    procedure: Procedure,
    seed: int,
    users: Sequence[UserProfile],
    entries: Sequence[Mapping[str, Any]],
    snr_db_range: tuple[float, float],
    motion_bank: MotionBank | None,
    duration_scale: float,
) -> dict[str, Any]:
    return {
        "format": DATASET_FORMAT,
        "synthetic": True,
        "generator": "prism.data.synth",
        "generator_version": GENERATOR_VERSION,
        "task": procedure.id,
        "seed": seed,
        "snr_db_range": [float(snr_db_range[0]), float(snr_db_range[1])],
        "motion_source": "openpack" if motion_bank is not None else "parametric",
        "motion_bank": motion_bank.description if motion_bank is not None else None,
        "duration_scale": duration_scale,
        "users": [user.to_dict() for user in users],
        "sessions": list(entries),
    }
