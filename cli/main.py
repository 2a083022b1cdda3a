"""``synthvae fit | sample | schema | info``: parse, call the library, report errors in one line.

Every command turns a :class:`synthvae.SynthvaeError` into ``error: <message>`` on stderr and
exit code 1; an interrupt exits with 130. No traceback is shown for a user error, and locals
(which may hold private rows) are never printed.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from cli import report, toolkit
from cli.app import DEFAULT_MODEL, ModelOption, app, echo, err, out, say, user_errors
from cli.options import DecimalOption, SepOption, ThreadsOption, checked_threads

DEFAULT_OUTPUT = Path("synthetic.csv")


@app.command()
@user_errors
def fit(
    data: Annotated[Path, typer.Argument(
        help="Training table: CSV, gzip CSV or Parquet (with --stream: a Parquet file or a "
             "folder of them).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.",
                                         dir_okay=False)] = DEFAULT_MODEL,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum training epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Rows per step.")] = None,
    schema: Annotated[Optional[Path], typer.Option(
        help="JSON schema overriding detection (all or some columns).", dir_okay=False)]
    = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    epsilon: Annotated[Optional[float], typer.Option(
        help="Train with differential privacy at this total epsilon (see docs/privacy.md).")]
    = None,
    delta: Annotated[Optional[float], typer.Option(
        help="DP delta (default 0.1 / rows, at most 0.01).")]
    = None,
    max_grad_norm: Annotated[float, typer.Option(help="DP-SGD clipping norm.")] = 1.0,
    accountant: Annotated[Optional[str], typer.Option(
        help="Under --epsilon: privacy accountant, prv (default, tighter) or rdp (see "
             "docs/privacy.md).")] = None,
    calibration_share: Annotated[Optional[float], typer.Option(
        help="Under --epsilon: share of the budget for the noisy frequencies that calibrate "
             "sampling (default 0.1; 0 = uncalibrated; see docs/privacy.md).")] = None,
    beta: Annotated[Optional[float], typer.Option(
        help="Weight of the KL term (default: the library's; see docs/training.md).")] = None,
    kl_anneal: Annotated[str, typer.Option(
        help="KL weight schedule: none, linear (0 to beta, then held) or cyclical "
             "(see docs/training.md).")] = "none",
    kl_anneal_epochs: Annotated[Optional[int], typer.Option(
        help="Ramp (linear) or cycle (cyclical) length in epochs (default: a quarter of "
             "the epochs).")] = None,
    free_bits: Annotated[float, typer.Option(
        help="Nats of KL per latent dimension left unpenalised (0 = off; not with "
             "--epsilon).")] = 0.0,
    decoder: Annotated[Optional[str], typer.Option(
        help="autoregressive (columns also depend on earlier columns) or factorized "
             "(TVAE's; faster sampling). Default: autoregressive, factorized for very "
             "wide tables (see docs/training.md).")] = None,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate",
        help="Match the training rows' category and mode frequencies when sampling (under "
             "--epsilon: noisy frequencies, see docs/privacy.md).")] = True,
    min_lift: Annotated[Optional[float], typer.Option(
        help="Do not draw a category where the row's context makes it this share as "
             "frequent as in the training rows, or rarer (0 = off; default 0.03; see "
             "docs/training.md).")] = None,
    unseen_pairs: Annotated[Optional[float], typer.Option(
        help="Never draw together two values that no training row holds together where "
             "independence expects this many rows or one column determines the other (0 = "
             "off; default 10; see docs/training.md).")] = None,
    min_mode_rows: Annotated[Optional[int], typer.Option(
        help="Keep a continuous column's mode only if it holds at least this many rows "
             "(default 100: small tables get fewer, fuller modes; 0 = off; see "
             "docs/training.md).")] = None,
    tail_share: Annotated[Optional[float], typer.Option(
        help="A heavy-tailed column's largest and smallest values, this share on each side, "
             "are modes of their own (default 0.01; 0 = off; see docs/training.md).")] = None,
    latent_swap: Annotated[Optional[float], typer.Option(
        help="Autoregressive decoder: share of each training batch trained beside another "
             "row's latent (0 = off; default 0.25 from 5,000 rows on, else 0; see "
             "docs/training.md).")] = None,
    holdout_fraction: Annotated[float, typer.Option(
        help="Keep this share of rows out of training, written to MODEL.holdout.csv for "
             "'synthvae report'.")] = 0.0,
    checkpoint_every: Annotated[int, typer.Option(
        help="Save the training state to MODEL.ckpt every N epochs (0 = never).")] = 0,
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted fit from MODEL.ckpt (same data and options).")] = False,
    stream: Annotated[bool, typer.Option(
        help="Fit from Parquet in bounded memory: transforms fitted on a reservoir sample, "
             "row groups streamed (see docs/scale.md).")] = False,
    sample_rows: Annotated[int, typer.Option(
        help="With --stream: reservoir rows that fit the column transforms.")] = 200_000,
    distributed: Annotated[Optional[bool], typer.Option(
        "--distributed/--no-distributed",
        help="Train data-parallel across the processes of a torchrun launch (default: when "
             "launched by torchrun; see docs/scale.md).")] = None,
    metadata: Annotated[Optional[Path], typer.Option(
        help="SDV single-table metadata JSON to use as the schema (see docs/schema.md).",
        dir_okay=False)] = None,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    threads: ThreadsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Learn a synthesizer from DATA and save it (default: ./synthvae-model.safetensors)."""
    from synthvae import Synthesizer
    from synthvae.errors import ConfigError
    from synthvae.io import (check_writable, holdout_path, read_table, split_holdout,
                             write_table_chunks)
    from synthvae.params import check_seed
    from synthvae.persistence import checkpoint_path

    checked_threads(threads)
    if stream and (holdout_fraction or checkpoint_every or resume):
        raise ConfigError("--stream does not combine with --holdout-fraction, "
                          "--checkpoint-every or --resume; fit in memory for those.")
    if schema is not None and metadata is not None:
        raise ConfigError("Give --schema or --metadata, not both.")
    check_seed(seed, "The 'seed' parameter of Synthesizer")  # before it splits the holdout
    check_writable(output, (data, schema, metadata))  # fails now, not after the training
    # MODEL.holdout.csv is written (--holdout-fraction) or removed (an earlier fit's): never
    # the table this fit reads
    check_writable(holdout_path(output), (data, schema, metadata))
    df, holdout = (None, None) if stream else split_holdout(read_table(data, sep, decimal),
                                                              holdout_fraction, seed)
    chosen = {"epochs": epochs, "batch_size": batch_size, "beta": beta, "decoder": decoder,
              "min_lift": min_lift, "unseen_pairs": unseen_pairs,
              "min_mode_rows": min_mode_rows, "tail_share": tail_share,
              "latent_swap": latent_swap,
              "calibration_share": calibration_share, "accountant": accountant}
    params = {k: v for k, v in chosen.items() if v is not None}  # the rest: library defaults
    synth = Synthesizer(schema=_schema_from_options(schema, metadata, df), device=device, seed=seed,
                        verbose=not quiet, epsilon=epsilon, delta=delta,
                        max_grad_norm=max_grad_norm, distributed=distributed,
                        calibrate=calibrate, kl_anneal=kl_anneal,
                        kl_anneal_epochs=kl_anneal_epochs, free_bits=free_bits,
                        n_threads=threads, **params)
    ckpt = checkpoint_path(output)
    _run_fit(synth, data if stream else df, sample_rows, ckpt, checkpoint_every, resume)
    if synth.rank_ != 0:  # every rank holds the same model; rank 0 writes and reports
        return
    synth.save(output)
    ckpt.unlink(missing_ok=True)  # the finished model replaces the unfinished state
    if holdout is not None:
        write_table_chunks([holdout], holdout_path(output), private=True)  # real rows
        say(f"Kept {len(holdout):,} holdout rows out of training: {holdout_path(output)}")
    else:
        _remove_stale_holdout(output)
    summary = synth.training_summary_
    say(f"Fitted {summary['rows']:,} rows x {summary['columns']} columns in "
        f"{summary['fit_seconds']:.1f} s ({summary['epochs_run']} epochs on "
        f"{summary['device']}); model written to {output}")
    if synth.privacy_ is not None:
        say(f"Differential privacy: epsilon {synth.privacy_['epsilon']:.3f}, delta "
            f"{synth.privacy_['delta']:.2e} spent in {len(synth.privacy_['entries'])} "
            f"mechanisms (see 'synthvae info').")


def _remove_stale_holdout(output: Path) -> None:
    """An earlier fit's ``MODEL.holdout.csv`` holds rows this model trained on: 'synthvae
    report -m MODEL' would take them for rows it never saw and score its privacy against
    its own training rows. Remove it, and say so."""
    from synthvae.io import holdout_path

    stale = holdout_path(output)
    if stale.is_file():
        stale.unlink()
        say(f"Removed {stale}: an earlier fit's holdout rows, which this model trained on.",
            err)


def _schema_from_options(schema: Path | None, metadata: Path | None, df):
    """--schema (synthvae JSON, read by the Synthesizer) or --metadata (SDV JSON, its kinds
    applied to the table ``df``, which is None when streaming)."""
    if metadata is not None:
        from synthvae.sdv_metadata import schema_from_sdv

        return schema_from_sdv(metadata, df)
    return str(schema) if schema else None


def _run_fit(synth, data, sample_rows: int, ckpt: Path, checkpoint_every: int,
             resume: bool) -> None:
    """Fit in memory (``data`` a DataFrame) or streamed (a path); when a step after
    training fails, say whether the training state was kept for --resume."""
    from synthvae.errors import PostTrainingError

    try:
        if isinstance(data, Path):
            synth.fit_parquet(data, sample_rows=sample_rows)
        else:
            synth.fit(data, checkpoint=ckpt, checkpoint_every=checkpoint_every, resume=resume)
    except PostTrainingError as exc:
        kept = (f"The training state is kept in {ckpt}: rerun with --resume to continue "
                f"from it instead of training again." if checkpoint_every and ckpt.exists()
                else "No model was written (--checkpoint-every N keeps the training state "
                     "for --resume).")
        raise PostTrainingError(f"{exc} {kept}") from None
    except KeyboardInterrupt:
        if not (checkpoint_every or resume) or not ckpt.exists():
            raise  # cli.app: "interrupted; nothing was written."
        err.print(f"interrupted; no model was written. {_checkpoint_held(ckpt)}",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None


def _checkpoint_held(ckpt: Path) -> str:
    """What an interrupted fit's checkpoint holds, and how to continue from it."""
    from synthvae.errors import SynthvaeError
    from synthvae.persistence import load_checkpoint

    try:
        state, _ = load_checkpoint(ckpt)
    except SynthvaeError as exc:
        return f"The checkpoint {ckpt} cannot be resumed from: {exc}"
    return (f"The checkpoint {ckpt} holds epoch {state['epoch']} of "
            f"{state['train_config']['epochs']}; resume with --resume.")


@app.command()
@user_errors
def sample(
    n: Annotated[int, typer.Option("--num-rows", "-n", help="Rows to generate.")],
    model: ModelOption = DEFAULT_MODEL,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="CSV or Parquet file; with --shards, the folder of the Parquet "
                               "dataset.")] = DEFAULT_OUTPUT,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same rows).")]
    = None,
    chunk_size: Annotated[int, typer.Option(help="Rows held in memory at once.")] = 100_000,
    where: Annotated[Optional[list[str]], typer.Option(
        "--where", help="Only rows meeting COLUMN=VALUE or COLUMN=LOW..HIGH (repeatable; "
                        "COLUMN= asks for an empty cell).")] = None,
    shards: Annotated[Optional[int], typer.Option(
        help="Split the N rows into this many shards and write only one of them (see "
             "docs/scale.md).")] = None,
    shard_index: Annotated[Optional[int], typer.Option(
        help="Which shard to write, from 0 to SHARDS-1: OUTPUT/part-INDEX-of-SHARDS.parquet.")]
    = None,
    threads: ThreadsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Generate N synthetic rows from a model, streamed to a file in chunks."""
    from synthvae import Synthesizer
    from synthvae.conditions import parse_where
    from synthvae.errors import ConfigError
    from synthvae.io import check_writable, output_format, write_table_chunks
    from synthvae.sharding import check_shard, shard_output
    from synthvae.table_sampling import check_n, whole_number_columns

    check_n(n)
    checked_threads(threads)
    if (shards is None) != (shard_index is None):
        raise ConfigError("--shards and --shard-index go together: give both (e.g. "
                          "--shards 100 --shard-index 7), or neither.")
    shard = check_shard((shard_index, shards)) if shards is not None else None
    conditions = parse_where(where) if where else None
    if shard is not None and conditions is not None:
        raise ConfigError("--shards does not combine with --where; sample conditional rows "
                          "unsharded.")
    if shard is not None:
        output = shard_output(output, shard)
    else:
        if output.is_dir():
            raise ConfigError(f"{str(output)!r} is a folder; give a CSV or Parquet file name, "
                              f"or --shards and --shard-index to write a shard into it.")
        output_format(output)  # fail on a bad extension before loading anything
    check_writable(output, (model,))
    synth = Synthesizer.load(model)
    synth.n_threads = threads
    chunks = synth.iter_sample(n, chunk_size=chunk_size, seed=seed, conditions=conditions,
                               shard=shard)
    total = n if shard is None else shard.rows(n)[1] - shard.rows(n)[0]
    rows = write_table_chunks(_with_progress(chunks, total, quiet), output,
                              whole_number_columns(synth),  # as CSV held them: 579, not 579.0
                              expected_rows=total)
    say(f"Wrote {rows:,} rows to {output}")


def _with_progress(chunks, total: int, quiet: bool):
    from rich.progress import Progress

    if quiet:
        yield from chunks
        return
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("sampling", total=total)
        for chunk in chunks:
            yield chunk
            progress.advance(task, len(chunk))


@app.command("schema")
@user_errors
def schema_command(
    data: Annotated[Path, typer.Argument(help="Table to inspect: CSV, gzip CSV or Parquet.")],
    schema: Annotated[Optional[Path], typer.Option(
        help="JSON schema (all or some columns) to complete: its columns are kept, the "
             "others detected.", exists=True, dir_okay=False)] = None,
    format: Annotated[str, typer.Option(
        "--format", help="synthvae (for --schema) or sdv (SDV single-table metadata, for "
                         "SDV or --metadata).")] = "synthvae",
    suggest: Annotated[bool, typer.Option(
        "--suggest/--no-suggest",
        help="List rules found in the data under \"suggested_constraints\" (fit ignores "
             "them: move the ones to keep into \"constraints\"; see docs/constraints.md).")]
    = True,
    sep: SepOption = None,
    decimal: DecimalOption = None,
):
    """Print the detected schema of DATA as JSON, ready to edit and pass to --schema."""
    from synthvae.errors import ConfigError
    from synthvae.io import read_table
    from synthvae.schema import detect_schema, schema_from_any

    if format not in ("synthvae", "sdv"):
        raise ConfigError(f"--format must be 'synthvae' or 'sdv'. Got {format!r} instead.")
    overrides = schema_from_any(str(schema)) if schema is not None else None
    table = read_table(data, sep, decimal)
    detected = detect_schema(table, overrides=overrides)
    _note_pii(detected)
    if format == "sdv":
        from synthvae.sdv_metadata import schema_to_sdv

        echo(json.dumps(schema_to_sdv(detected), indent=2))
        return
    out = detected.to_dict()
    if suggest:
        from synthvae.constraints.suggest import suggest_constraints

        out["suggested_constraints"] = suggest_constraints(table, detected)
    echo(json.dumps(out, indent=2, default=_json_scalar))


def _json_scalar(value):
    """Numbers as numbers; any other value JSON has no type for (an interval, a date) as the
    text pandas shows for it."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _note_pii(schema) -> None:
    """On stderr (stdout stays the JSON): the personal data columns and what happens to them."""
    found = [f"{c.name!r} ({c.pii})" for c in schema.columns if c.pii]
    if found:
        say(f"Personal data: {', '.join(found)}; replaced by fake values of that kind, never "
            f"real ones. To keep a column, give it another kind or \"pii\": null in --schema "
            f"(docs/pii.md).", err)


@app.command()
@user_errors
def info(
    model: Annotated[Path, typer.Argument(help="Model file.", dir_okay=False)] = DEFAULT_MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[Optional[Path], typer.Option(
        help="Also draw the training curves to this file (.html, or .png/.svg/.pdf with "
             "matplotlib installed).", dir_okay=False)] = None,
):
    """Describe a saved model: columns, training summary, versions."""
    from synthvae.persistence import model_info

    details = model_info(model)
    if plot is not None:
        from synthvae.plots import plot_training_curves

        plot_training_curves(details.get("history") or [], plot)
        say(f"Training curves written to {plot}", err)
    if as_json:
        echo(json.dumps(details, indent=2, default=_json_scalar))
        return
    _print_info(details)


def _print_constraints(constraints: list[dict]) -> None:
    from rich.table import Table

    if not constraints:
        return
    table = Table("constraint", "kind", title="Rules every sampled row meets")
    for item in constraints:
        table.add_row(escape(item["rule"]), item["kind"])
    out.print(table)


def _print_info(details: dict) -> None:
    from rich.table import Table

    summary = details["training_summary"]
    out.print(f"[bold]{escape(str(details['path']))}[/]: synthvae "
              f"{details['synthvae_version']} model, format {details['format_version']}, "
              f"{details['model_config']['decoder']} decoder")
    say(", ".join(f"{k}: {v}" for k, v in summary.items()))
    table = Table("column", "kind", "nullable", "dtype")
    for column in details["columns"]:
        table.add_row(escape(column["name"]), column["kind"], str(column["nullable"]),
                      escape(str(column["dtype"])))
    out.print(table)
    _print_exposure(details.get("value_exposure") or [])
    _print_constraints(details.get("constraints") or [])
    _print_diagnostics(details)
    privacy = details.get("privacy")
    if privacy is None:
        out.print("Not trained with differential privacy.")
        return
    out.print(f"[bold]Differential privacy[/]: epsilon {privacy['epsilon']:.4f} "
              f"(target {privacy['target_epsilon']}), delta {privacy['delta']:.3e}")
    ledger = Table("mechanism", "column", "epsilon", "delta")
    for entry in privacy["entries"]:
        ledger.add_row(entry["mechanism"], escape(str(entry["column"] or "-")),
                       f"{entry['epsilon']:.4f}", f"{entry['delta']:.2e}")
    out.print(ledger)


def _print_exposure(columns: list[dict]) -> None:
    """Columns whose real values the model file holds and samples back, and those replaced."""
    from rich.table import Table

    if not columns:
        return
    table = Table("column", "kind", "real values in output", "detail",
                  title="Real values in the model file and its samples")
    for entry in columns:
        verbatim = entry["exposure"] == "verbatim"
        table.add_row(escape(entry["column"]), entry["kind"],
                      "[yellow]yes, verbatim[/]" if verbatim else "no, replaced",
                      escape(entry["detail"]))
    out.print(table)


def _print_diagnostics(details: dict) -> None:
    from rich.table import Table

    found = details.get("diagnostics")
    if found is None:
        out.print(f"Training diagnostics: {details.get('diagnostics_note')}.")
        return
    kl = sorted(found["kl_per_dim"], reverse=True)
    out.print(f"[bold]Training diagnostics[/] ({found['rows']:,} {found['rows_from']} rows): "
              f"KL {found['kl_total']:.3g} nats per row; {found['active_units']} of "
              f"{found['latent_dim']} latent dimensions active (largest KL per dimension: "
              f"{', '.join(f'{v:.3g}' for v in kl[:5])})")
    if found["collapsed"]:
        out.print("[yellow]Posterior collapse:[/] the latents carry almost no information; "
                  "lower beta or use --kl-anneal linear or --free-bits (docs/training.md).")
    table = Table("column", "reconstruction", title="Rows rebuilt from their latent mean")
    for name, value in found["columns"].items():
        text = (f"{value['value']:.1%} exact" if value["metric"] == "accuracy"
                else f"error {value['value']:.3f} std")
        table.add_row(escape(name), text)
    out.print(table)


report.register(app)
toolkit.register(app)


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwinds like Ctrl-C: temporary files removed, nothing renamed


def main() -> None:  # console-script entry point
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    app()


if __name__ == "__main__":
    sys.exit(main())
