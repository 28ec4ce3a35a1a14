"""Tests for the semi-synthetic session generator (timeline, motion, audio mix, data sets)."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from prism.data.annotations import AnnotatedSession, StepSegment, frame_labels
from prism.data.openpack_imu import G_TO_MS2
from prism.data.recording import AUDIO_RATE_HZ, Recording, read_recording
from prism.data.synth import (
    GENERATOR_VERSION,
    UserProfile,
    build_openpack_bank,
    default_openpack_root,
    derive_seed,
    make_user_profile,
    render_audio,
    render_imu,
    stable_seed,
    step_motions,
    synthesize_dataset,
    synthesize_session,
    timeline,
)
from prism.errors import DataError
from prism.procedure.io import load_procedure
from prism.procedure.model import END, START, DurationStats, GapModel, Procedure, Step
from prism.sensing.framing import frame_count

OPENPACK_FIXTURE = Path(__file__).parent / "fixtures" / "openpack_mini"
TASKS = Path(__file__).resolve().parents[1] / "tasks"
STILL = UserProfile(
    "still", imu_noise_acc=0.0, imu_noise_gyro=0.0, imu_scale=1.0, rest_gravity=(0.0, 0.0, 1.0)
)


@pytest.fixture(scope="module")
def short_latte(latte: Procedure) -> Recording:
    """A latte session with durations scaled by 0.25 (about 50 s)."""
    return synthesize_session(latte, seed=11, session_id="short", duration_scale=0.25)


def _files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# ---------------------------------------------------------------- seeds and timeline


def test_seeds_do_not_depend_on_the_process() -> None:
    assert stable_seed("latte_making", "steam_milk") == 7720133167904394564
    assert derive_seed(7, 0, 3) == 7197503938817316163
    assert make_user_profile("u1", 5) == make_user_profile("u1", 5) != make_user_profile("u1", 6)


def test_timeline_follows_frame_label_rules() -> None:
    a, b, c = StepSegment("a", 1.0, 3.0), StepSegment("b", 2.0, 4.0), StepSegment("c", 6.0, 7.0)
    session = AnnotatedSession("x", "t", (a, b, c), 8.0)
    assert timeline(session) == [
        (None, 0.0, 1.0),
        ("a", 1.0, 2.0),
        ("b", 2.0, 4.0),
        (None, 4.0, 6.0),
        ("c", 6.0, 7.0),
        (None, 7.0, 8.0),
    ]


# ---------------------------------------------------------------- sessions


def test_session_is_deterministic_for_a_seed(latte: Procedure, short_latte: Recording) -> None:
    again = synthesize_session(latte, seed=11, session_id="short", duration_scale=0.25)
    assert again.annotation == short_latte.annotation
    assert again.metadata == short_latte.metadata
    assert again.imu is not None and short_latte.imu is not None
    assert np.array_equal(again.imu.times, short_latte.imu.times)
    assert np.array_equal(again.imu.values, short_latte.imu.values)
    assert np.array_equal(again.audio, short_latte.audio)  # type: ignore[arg-type]
    other = synthesize_session(latte, seed=12, session_id="short", duration_scale=0.25)
    assert other.annotation != short_latte.annotation
    assert other.audio is not None and short_latte.audio is not None
    assert other.audio.size != short_latte.audio.size or not np.array_equal(
        other.audio, short_latte.audio
    )


def test_labels_match_the_signals(latte: Procedure, short_latte: Recording) -> None:
    rec = short_latte
    duration = rec.duration
    assert rec.annotation.segments
    assert all(0.0 <= s.start < s.end <= duration for s in rec.annotation.segments)
    assert rec.annotation.segments[0].start == pytest.approx(2.0)  # lead-in
    assert rec.audio is not None and rec.imu is not None
    assert rec.audio.dtype == np.float32
    assert rec.audio.size == math.floor(duration * AUDIO_RATE_HZ)
    assert np.abs(rec.audio).max() <= 1.0
    times = rec.imu.times
    assert times.size == math.floor(duration * 50) + 1
    assert times[0] >= 0.0 and times[-1] <= duration
    assert (np.diff(times) > 0).all()
    assert np.abs(times - np.arange(times.size) / 50.0).max() <= 0.0041  # jitter <= 4 ms
    assert np.isfinite(rec.imu.values).all()
    gravity = np.linalg.norm(rec.imu.values[:, :3], axis=1)
    assert 8.0 < float(np.median(gravity)) < 12.0
    labels = frame_labels(rec.annotation, latte.step_ids)
    assert labels.size == frame_count(duration)
    assert set(np.unique(labels)) <= set(range(latte.n_steps + 1))


def test_metadata_says_synthetic(latte: Procedure, short_latte: Recording) -> None:
    meta = short_latte.metadata
    assert short_latte.synthetic is True
    assert meta["generator_version"] == GENERATOR_VERSION
    assert meta["seed"] == 11
    assert meta["user"] == "u0"
    assert 0.0 <= meta["snr_db"] <= 20.0
    assert meta["motion_source"] == "parametric"
    assert set(meta["motion_styles"].values()) == {"parametric"}
    assert meta["label_source"].startswith("sampled from procedure 'latte_making'")
    assert meta["sounds"]["steam_milk"] == "steam"
    assert meta["duration_scale"] == 0.25
    json.dumps(meta)  # JSON-ready


def test_audio_mix_has_the_drawn_snr(latte: Procedure, short_latte: Recording) -> None:
    for snr_db in (0.0, 10.0, 20.0):
        mix = render_audio(
            short_latte.annotation,
            latte,
            profile=make_user_profile("u3", 3),
            rng=np.random.default_rng(0),
            snr_db=snr_db,
        )
        assert mix.measured_snr_db == pytest.approx(snr_db, abs=1e-6)
        assert np.abs(mix.mixture).max() <= 0.99 + 1e-6
        assert np.allclose(mix.mixture, mix.signal + mix.noise, atol=1e-6)
    fixed = synthesize_session(latte, seed=1, snr_db_range=(7.0, 7.0), duration_scale=0.1)
    assert fixed.metadata["snr_db"] == 7.0


def test_a_real_session_timing_is_copied(latte: Procedure) -> None:
    real = AnnotatedSession(
        "real-7",
        "latte_making",
        (StepSegment("use_fridge", 1.0, 6.0), StepSegment("pour_milk_jug", 6.5, 9.0)),
        10.0,
    )
    rec = synthesize_session(latte, seed=0, session_id="copy", source_session=real)
    assert rec.annotation.segments == real.segments
    assert rec.duration == 10.0
    assert rec.session_id == rec.annotation.session_id == "copy"
    assert rec.metadata["label_source"] == "real annotated session latte_making/real-7"
    unknown = AnnotatedSession("bad", "x", (StepSegment("fly", 0.0, 1.0),), 2.0)
    with pytest.raises(
        DataError, match=r"steps \['fly'\] that procedure 'latte_making' does not know"
    ):
        synthesize_session(latte, seed=0, source_session=unknown)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"snr_db_range": (10.0, 0.0)},
            r"snr_db_range must be finite \(low, high\) with low <= high",
        ),
        ({"snr_db_range": (0.0, math.inf)}, r"snr_db_range must be finite"),
        ({"duration_scale": 0.0}, r"duration_scale must be a finite number > 0, got 0\.0"),
    ],
    ids=["reversed-snr", "infinite-snr", "zero-duration-scale"],
)
def test_session_bad_options(latte: Procedure, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        synthesize_session(latte, seed=0, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- motion


def test_openpack_bank_from_the_fixture() -> None:
    bank = build_openpack_bank(OPENPACK_FIXTURE)
    assert bank.activities == ("assemble_box", "insert_items", "picking", "relocate_item_label")
    assert [len(bank.segments[a]) for a in bank.activities] == [2, 2, 3, 1]
    assert bank.rate_hz == 50.0
    picking = bank.segments["picking"]
    # 2 s, 8.5 s and 10 s of 10 Hz rows (first to last row) resampled to 50 Hz.
    assert sorted(s.shape[0] for s in picking) == [96, 421, 496]
    for segment in picking:  # acc_y codes the operation: nothing of the neighbours leaks in
        assert np.allclose(segment[:, 1], 0.1 * G_TO_MS2, atol=1e-5)
    only_box2 = build_openpack_bank(OPENPACK_FIXTURE, boxes=[2])
    assert only_box2.activities == ("assemble_box", "insert_items", "picking")
    assert "U0001/S0100, atr01" in bank.description


def test_bank_steps_play_their_real_segments_unchanged() -> None:
    bank = build_openpack_bank(OPENPACK_FIXTURE)
    styles = step_motions("openpack_packing", ["picking", "assemble_box", "scan_label"], bank)
    assert styles["assemble_box"].activity == "assemble_box"
    assert styles["assemble_box"].rotation == (0.0, 0.0, 0.0)
    assert styles["scan_label"].activity in bank.activities  # not in the bank: dealt one
    intervals = [(None, 0.0, 2.0), ("assemble_box", 2.0, 12.0), (None, 12.0, 14.0)]
    imu = render_imu(
        intervals, 14.0, styles=styles, profile=STILL, rng=np.random.default_rng(0), bank=bank
    )
    inside = (imu.times > 2.5) & (imu.times < 11.5)
    expected = [G_TO_MS2, 0.3 * G_TO_MS2, 0.0, math.pi, -math.pi / 2, 0.0]
    assert np.allclose(imu.values[inside], expected, atol=1e-3)


def test_step_styles_are_fixed_per_task_and_spread_over_the_bank(latte: Procedure) -> None:
    bank = build_openpack_bank(OPENPACK_FIXTURE)
    styles = step_motions(latte.id, latte.step_ids, bank)
    assert styles == step_motions(latte.id, latte.step_ids, bank)
    uses = Counter(style.activity for style in styles.values())
    assert set(uses) == set(bank.activities)
    assert max(uses.values()) - min(uses.values()) <= 1  # 19 steps dealt round robin over 4
    shared = [s for s in styles.values() if s.activity == "picking"]
    assert len({s.rotation for s in shared}) == len(shared)  # same operation, different style
    parametric = step_motions(latte.id, latte.step_ids)
    assert all(s.activity is None for s in parametric.values())
    assert len({s.seed for s in parametric.values()}) == latte.n_steps


def test_parametric_steps_differ_and_users_rotate_the_watch(latte: Procedure) -> None:
    styles = step_motions(latte.id, latte.step_ids)

    def mean_acc(step: str, profile: UserProfile) -> np.ndarray:
        imu = render_imu(
            [(step, 0.0, 20.0)], 20.0, styles=styles, profile=profile, rng=np.random.default_rng(1)
        )
        return np.asarray(imu.values[:, :3].mean(axis=0))

    grind, steam = mean_acc("grind_beans", STILL), mean_acc("steam_milk", STILL)
    assert np.linalg.norm(grind - steam) > 1.0
    turned = UserProfile(
        "turned", imu_rotation=(0.0, 0.0, 0.5), imu_noise_acc=0.0, imu_noise_gyro=0.0
    )
    rotated = mean_acc("grind_beans", turned)
    assert np.linalg.norm(rotated) == pytest.approx(np.linalg.norm(grind), rel=1e-3)
    assert np.linalg.norm(rotated - grind) > 0.5


def test_bank_needs_its_rate_and_steps_need_their_bank(latte: Procedure) -> None:
    bank = build_openpack_bank(OPENPACK_FIXTURE)
    styles = step_motions(latte.id, latte.step_ids, bank)
    with pytest.raises(DataError, match="pass its bank"):
        render_imu(
            [("grind_beans", 0.0, 5.0)],
            5.0,
            styles=styles,
            profile=STILL,
            rng=np.random.default_rng(0),
        )
    with pytest.raises(DataError, match=r"the motion bank is at 50\.0 Hz, expected 25\.0 Hz"):
        render_imu(
            [],
            5.0,
            styles=styles,
            profile=STILL,
            rng=np.random.default_rng(0),
            bank=bank,
            rate_hz=25.0,
        )


# ---------------------------------------------------------------- data sets


def _tiny() -> Procedure:
    duration = DurationStats(mean=2.0, std=0.5, min=1.0)
    steps = (
        Step("grind", "Grind beans", "", duration),
        Step("steam", "Steam milk", "", duration),
        Step("wash", "Wash jug", "", duration),
    )
    return Procedure(
        id="tiny_latte",
        name="Tiny latte",
        steps=steps,
        transitions={
            START: {"grind": 1.0},
            "grind": {"steam": 1.0},
            "steam": {"wash": 1.0},
            "wash": {END: 1.0},
        },
        gap=GapModel(probability=0.5, duration=DurationStats(mean=1.0, std=0.3)),
    )


def test_dataset_files_are_identical_for_a_seed(tmp_path: Path) -> None:
    first = synthesize_dataset(_tiny(), n_sessions=3, seed=4, out_dir=tmp_path / "a", n_users=2)
    synthesize_dataset(_tiny(), n_sessions=3, seed=4, out_dir=tmp_path / "b", n_users=2)
    synthesize_dataset(_tiny(), n_sessions=3, seed=5, out_dir=tmp_path / "c", n_users=2)
    assert [p.name for p in first] == ["tiny_latte-s000", "tiny_latte-s001", "tiny_latte-s002"]
    files_a, files_b, files_c = (_files(tmp_path / d) for d in "abc")
    assert len(files_a) == 3 * 4 + 1  # meta, imu, audio, labels per session + manifest
    assert files_a == files_b
    assert files_a.keys() == files_c.keys()
    assert not set(files_a.values()) & set(files_c.values())


def test_dataset_users_and_manifest(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    paths = synthesize_dataset(
        _tiny(),
        n_sessions=4,
        seed=9,
        out_dir=tmp_path,
        n_users=2,
        snr_db_range=(3.0, 6.0),
        progress=lambda done, total, sid: seen.append((done, total, sid)),
    )
    assert seen[-1] == (4, 4, "tiny_latte-s003")
    recordings = [read_recording(p) for p in paths]
    assert [r.metadata["user"] for r in recordings] == ["u0", "u1", "u0", "u1"]
    assert recordings[0].metadata["user_profile"] == recordings[2].metadata["user_profile"]
    assert recordings[0].metadata["user_profile"] != recordings[1].metadata["user_profile"]
    assert all(r.synthetic and 3.0 <= r.metadata["snr_db"] <= 6.0 for r in recordings)
    assert [r.metadata["session_index"] for r in recordings] == [0, 1, 2, 3]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == "prism-synth-dataset/1"
    assert manifest["synthetic"] is True
    assert [s["seed"] for s in manifest["sessions"]] == [derive_seed(9, 0, k) for k in range(4)]
    assert [u["user_id"] for u in manifest["users"]] == ["u0", "u1"]
    # Regenerating one session from its manifest entry gives the same labels.
    entry = manifest["sessions"][2]
    user = make_user_profile("u0", derive_seed(9, 1, 0))
    again = synthesize_session(
        _tiny(),
        seed=entry["seed"],
        session_id=entry["session_id"],
        user_profile=user,
        snr_db_range=(3.0, 6.0),
    )
    assert again.annotation.segments == recordings[2].annotation.segments


def test_written_recordings_read_back(tmp_path: Path) -> None:
    path = synthesize_dataset(_tiny(), n_sessions=1, seed=0, out_dir=tmp_path)[0]
    back = read_recording(path)
    original = synthesize_session(
        _tiny(),
        seed=derive_seed(0, 0, 0),
        session_id="tiny_latte-s000",
        user_profile=make_user_profile("u0", derive_seed(0, 1, 0)),
    )
    assert [s.step for s in back.annotation.segments] == [
        s.step for s in original.annotation.segments
    ]
    for read, made in zip(back.annotation.segments, original.annotation.segments, strict=True):
        assert (read.start, read.end) == pytest.approx((made.start, made.end), abs=1e-6)
    assert back.metadata["synthetic"] is True
    assert back.imu is not None and original.imu is not None and back.audio is not None
    assert np.allclose(back.imu.times, original.imu.times)
    assert np.allclose(back.imu.values, original.imu.values, rtol=1e-4, atol=1e-4)
    assert np.abs(back.audio - original.audio).max() < 1e-4  # type: ignore[operator]


def test_corrupt_imu_of_a_recording_is_repaired_or_rejected(tmp_path: Path) -> None:
    path = synthesize_dataset(_tiny(), n_sessions=1, seed=0, out_dir=tmp_path)[0]
    imu_csv = path / "imu.csv"
    header, *rows = imu_csv.read_text().splitlines()
    clean = read_recording(path).imu
    assert clean is not None
    cells = rows[10].split(",")
    rows[10] = ",".join([cells[0], *["nan"] * 6])  # one missing sample
    rows[20], rows[21] = rows[21], rows[20]  # two rows out of order
    imu_csv.write_text("\n".join([header, *rows]) + "\n")
    repaired = read_recording(path).imu
    assert repaired is not None
    assert np.array_equal(repaired.times, clean.times)
    assert np.isfinite(repaired.values).all()
    imu_csv.write_text("\n".join([header, *rows[:100], *rows[200:]]) + "\n")  # a 2 s gap
    with pytest.raises(DataError, match=r"imu\.csv: IMU has a gap of 2\.0\d s"):
        read_recording(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_sessions": 0}, r"n_sessions must be an integer >= 1, got 0"),
        ({"n_users": 0}, r"n_users must be an integer >= 1, got 0"),
        ({"seed": -1}, r"seed must be an integer >= 0, got -1"),
        ({"source_sessions": []}, r"source_sessions is empty"),
    ],
    ids=["no-sessions", "no-users", "negative-seed", "empty-sources"],
)
def test_dataset_bad_options(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n_sessions": 1, "seed": 0, "out_dir": tmp_path} | kwargs
    with pytest.raises(DataError, match=message):
        synthesize_dataset(_tiny(), **args)  # type: ignore[arg-type]


REAL_OPENPACK = Path(__file__).resolve().parents[2] / "shared" / "data" / "openpack"


@pytest.mark.skipif(
    not REAL_OPENPACK.is_dir(), reason="OpenPack data not present in ../shared/data"
)
def test_real_openpack_segments_drive_the_motion(latte: Procedure) -> None:
    assert default_openpack_root() == REAL_OPENPACK
    bank = build_openpack_bank(REAL_OPENPACK)
    assert len(bank.activities) == 10
    assert sum(len(s) for s in bank.segments.values()) > 150
    packing = load_procedure(TASKS / "openpack_packing" / "procedure.yaml")
    rec = synthesize_session(packing, seed=0, motion_bank=bank, duration_scale=0.5)
    assert rec.metadata["motion_source"] == "openpack"
    assert rec.metadata["motion_styles"] == {step: step for step in packing.step_ids}
    assert rec.imu is not None and np.isfinite(rec.imu.values).all()
    uses = Counter(s.activity for s in step_motions(latte.id, latte.step_ids, bank).values())
    assert sorted(uses.values()) == [1] + [2] * 9  # 19 latte steps over 10 operations
