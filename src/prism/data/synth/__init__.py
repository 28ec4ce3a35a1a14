"""Semi-synthetic sessions: real step timing and wrist motion, synthesized sounds; kitchen
noise for the spoken path, and mixing at an exact SNR.

See :mod:`prism.data.synth.generator` for what is real and what is synthetic, and
``datasets/README.md`` for every parameter.
"""

from prism.data.synth.audio_textures import (
    TEXTURE_KINDS,
    TEXTURE_LEVELS_DB,
    TextureParams,
    background_noise,
    texture,
)
from prism.data.synth.generator import (
    DEFAULT_SNR_DB_RANGE,
    GENERATOR_VERSION,
    AudioMix,
    render_audio,
    step_sounds,
    synthesize_dataset,
    synthesize_session,
    timeline,
)
from prism.data.synth.keywords import SOUND_KEYWORDS, sound_kind, sound_kinds
from prism.data.synth.kitchen import KITCHEN_SOURCES, kitchen_noise
from prism.data.synth.mixing import active_mask, measure_snr_db, mix_at_snr
from prism.data.synth.motion import (
    MotionBank,
    StepMotion,
    build_openpack_bank,
    default_openpack_root,
    render_imu,
    step_motions,
)
from prism.data.synth.profiles import UserProfile, make_user_profile
from prism.data.synth.seeding import derive_seed, stable_seed

__all__ = [
    "DEFAULT_SNR_DB_RANGE",
    "GENERATOR_VERSION",
    "KITCHEN_SOURCES",
    "SOUND_KEYWORDS",
    "TEXTURE_KINDS",
    "TEXTURE_LEVELS_DB",
    "AudioMix",
    "MotionBank",
    "StepMotion",
    "TextureParams",
    "UserProfile",
    "active_mask",
    "background_noise",
    "build_openpack_bank",
    "default_openpack_root",
    "derive_seed",
    "kitchen_noise",
    "make_user_profile",
    "measure_snr_db",
    "mix_at_snr",
    "render_audio",
    "render_imu",
    "sound_kind",
    "sound_kinds",
    "stable_seed",
    "step_motions",
    "step_sounds",
    "synthesize_dataset",
    "synthesize_session",
    "texture",
    "timeline",
]
