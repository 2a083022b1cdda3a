"""The command line as a user meets it: defaults that chain, one-line errors, exit codes."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app

from conftest import EXAMPLE_ADULT

runner = CliRunner()


@pytest.fixture()
def workdir(tmp_path, monkeypatch, adult_small):
    monkeypatch.chdir(tmp_path)
    adult_small.head(800).to_csv("data.csv", index=False)
    return tmp_path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_fit_then_sample_with_no_other_flag(workdir):
    result = invoke("fit", "data.csv", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert (workdir / "synthvae-model.safetensors").exists()
    result = invoke("sample", "-n", "1234", "--quiet")
    assert result.exit_code == 0, result.output
    assert "synthetic.csv" in result.output
    synthetic = pd.read_csv(workdir / "synthetic.csv")
    real = pd.read_csv("data.csv")
    assert len(synthetic) == 1234 and list(synthetic.columns) == list(real.columns)


def test_sample_to_parquet_and_gzip_csv_in_chunks(workdir):
    assert invoke("fit", "data.csv", "--epochs", "1", "-q").exit_code == 0
    result = invoke("sample", "-n", "2500", "-o", "out.parquet", "--chunk-size", "1000",
                    "--seed", "3", "-q")
    assert result.exit_code == 0, result.output
    parquet = pd.read_parquet(workdir / "out.parquet")
    assert len(parquet) == 2500
    assert invoke("sample", "-n", "2500", "-o", "out.csv.gz", "--seed", "3", "-q").exit_code == 0
    csv = pd.read_csv(workdir / "out.csv.gz")
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)


def test_fit_reads_parquet_and_gzip_csv(workdir):
    pd.read_csv("data.csv").to_parquet("data.parquet")
    assert invoke("fit", "data.parquet", "--epochs", "1", "-q", "-o", "p.safetensors").exit_code == 0
    assert invoke("fit", EXAMPLE_ADULT, "--epochs", "1", "-q", "-o", "g.safetensors").exit_code == 0


def test_schema_prints_editable_json_and_fit_accepts_it(workdir):
    result = invoke("schema", "data.csv")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    schema["columns"][2]["kind"] = "categorical"  # fnlwgt, against all sense, as a test
    (workdir / "schema.json").write_text(json.dumps(schema))
    assert invoke("fit", "data.csv", "--schema", "schema.json", "--epochs", "1", "-q").exit_code == 0
    info = json.loads(invoke("info", "--json").output)
    assert info["columns"][2]["kind"] == "categorical"


def test_a_partial_schema_fits_and_the_schema_command_completes_it(workdir):
    (workdir / "partial.json").write_text(json.dumps(
        {"columns": [{"name": "education-num", "kind": "categorical"}]}))
    result = invoke("fit", "data.csv", "--schema", "partial.json", "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    info = json.loads(invoke("info", "--json").output)
    real = pd.read_csv("data.csv")
    assert [c["name"] for c in info["columns"]] == list(real.columns)
    kinds = {c["name"]: c["kind"] for c in info["columns"]}
    assert kinds["education-num"] == "categorical" and kinds["age"] == "continuous"
    assert invoke("sample", "-n", "50", "-q").exit_code == 0
    synthetic = pd.read_csv("synthetic.csv")
    assert list(synthetic.columns) == list(real.columns)
    assert synthetic["education-num"].dtype == real["education-num"].dtype
    completed = invoke("schema", "data.csv", "--schema", "partial.json")
    assert completed.exit_code == 0, completed.output
    columns = json.loads(completed.output)["columns"]
    assert [c["name"] for c in columns] == list(real.columns)
    assert columns[4] == {"name": "education-num", "kind": "categorical", "nullable": False,
                          "dtype": "int64"}


def test_no_calibrate_flag_reaches_the_model_file(workdir):
    assert invoke("fit", "data.csv", "--epochs", "1", "-q", "--no-calibrate").exit_code == 0
    info = json.loads(invoke("info", "--json").output)
    assert info["training_summary"]["calibration"] is None
    assert invoke("fit", "data.csv", "--epochs", "1", "-q", "-o", "c.safetensors").exit_code == 0
    info = json.loads(invoke("info", "c.safetensors", "--json").output)
    assert info["training_summary"]["calibration"]["max_frequency_error_after"] < 0.05


def test_info_describes_the_model(workdir):
    invoke("fit", "data.csv", "--epochs", "1", "-q")
    result = invoke("info")
    assert result.exit_code == 0 and "workclass" in result.output and "categorical" in result.output


def one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_errors_are_one_line_with_non_zero_exit(workdir):
    assert "does not exist" in one_line_error(invoke("fit", "missing.csv"))
    (workdir / "empty.csv").write_text("")
    assert "is empty" in one_line_error(invoke("fit", "empty.csv"))
    (workdir / "header.csv").write_text("a,b\n")
    assert "no rows" in one_line_error(invoke("fit", "header.csv"))
    assert "not found" in one_line_error(invoke("sample", "-n", "10", "-m", "nope.safetensors"))
    assert "non-negative" in one_line_error(invoke("sample", "-n", "-4"))
    (workdir / "bad.json").write_text('{"columns": [{"name": "nope", "kind": "continuous"}]}')
    assert "'nope'" in one_line_error(invoke("fit", "data.csv", "--schema", "bad.json"))
    assert "'nope'" in one_line_error(invoke("schema", "data.csv", "--schema", "bad.json"))
    (workdir / "data.xlsx").write_bytes(b"PK")
    assert "format" in one_line_error(invoke("fit", "data.xlsx"))
    (workdir / "latin1.csv").write_bytes("name,x\ncafé,1\nb,2\n".encode("latin1"))
    assert "is not UTF-8 text (it holds the byte 0xe9); save it as UTF-8" in one_line_error(
        invoke("fit", "latin1.csv"))


def test_whole_numbers_with_blanks_come_back_as_whole_numbers_in_csv(tmp_path):
    rng = np.random.default_rng(0)
    count = rng.integers(0, 1_000, 300).astype(float)
    count[::7] = np.nan
    level = rng.integers(1, 5, 300).astype(float)
    level[::5] = np.nan
    lines = ["count,level,share"] + [
        f"{'' if np.isnan(c) else int(c)},{'' if np.isnan(v) else int(v)},{s:.2f}"
        for c, v, s in zip(count, level, rng.random(300))]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    model, out = tmp_path / "m.safetensors", tmp_path / "out.csv"
    assert invoke("fit", tmp_path / "in.csv", "-o", model, "--epochs", "1", "-q").exit_code == 0
    assert invoke("sample", "-m", model, "-n", "500", "-o", out, "-q").exit_code == 0
    written = [line.split(",") for line in out.read_text().splitlines()[1:]]
    counts = [row[0] for row in written if row[0]]
    assert counts and all(value.isdigit() for value in counts)  # 579, not 579.0
    assert all(row[1] in {"", "1", "2", "3", "4"} for row in written)
    assert any("." in row[2] for row in written)  # decimals stay decimals
    assert pd.read_csv(out)["count"].isna().any()


def test_half_steps_are_written_alike_in_every_chunk(tmp_path):
    stars = np.tile([1.0, 1.5, 2.0, np.nan], 100)
    pd.DataFrame({"stars": stars, "x": np.arange(400.0)}).to_csv(tmp_path / "in.csv",
                                                                  index=False)
    model, out = tmp_path / "m.safetensors", tmp_path / "out.csv"
    assert invoke("fit", tmp_path / "in.csv", "-o", model, "--epochs", "1", "-q").exit_code == 0
    assert invoke("sample", "-m", model, "-n", "400", "-o", out, "--chunk-size", "3",
                  "-q").exit_code == 0
    written = {line.split(",")[0] for line in out.read_text().splitlines()[1:]}
    assert written <= {"", "1.0", "1.5", "2.0"}  # never "1" in one chunk, "1.0" in another


def test_a_blank_header_cell_comes_back_blank(tmp_path):
    rows = "\n".join(f"{i % 7},{i % 3},x{i % 2}" for i in range(60))
    (tmp_path / "in.csv").write_text(f"a,b,\n{rows}\n")  # the third column has no name
    model, out = tmp_path / "m.safetensors", tmp_path / "out.csv"
    assert invoke("fit", tmp_path / "in.csv", "-o", model, "--epochs", "1", "-q").exit_code == 0
    assert invoke("sample", "-m", model, "-n", "5", "-o", out, "-q").exit_code == 0
    assert out.read_text().splitlines()[0] == "a,b,"  # not "a,b,Unnamed: 2"


def test_bad_seeds_are_one_line_errors(workdir):
    assert "'seed' parameter" in one_line_error(invoke("fit", "data.csv", "--seed", "-1"))
    assert "'seed' parameter" in one_line_error(invoke("fit", "data.csv", "--seed", "-1",
                                                       "--holdout-fraction", "0.2"))
    assert "'seed' parameter of evaluate" in one_line_error(invoke(
        "report", "data.csv", "data.csv", "--seed", str(2**32)))
    invoke("fit", "data.csv", "--epochs", "1", "-q")
    for seed in ("-1", "99999999999999999999999"):
        result = invoke("sample", "-n", "5", "--seed", seed)
        assert "sampling seed" in one_line_error(result)
        assert result.output.startswith("error:")  # checked before any progress display
    assert "at most 9,223,372,036,854,775,807" in one_line_error(
        invoke("sample", "-n", "99999999999999999999"))  # a mistyped -n, beyond int64


def test_failed_sample_leaves_no_partial_file(workdir):
    invoke("fit", "data.csv", "--epochs", "1", "-q")
    one_line_error(invoke("sample", "-n", "10", "-o", "nofolder/out.csv"))
    assert not (workdir / "nofolder").exists()
    assert sorted(p.name for p in workdir.iterdir()) == ["data.csv", "synthvae-model.safetensors"]


def test_every_command_has_help():
    for command in ("fit", "sample", "schema", "info", "report"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_fit_keeps_a_holdout_next_to_the_model(workdir):
    result = invoke("fit", "data.csv", "--epochs", "1", "-q", "--holdout-fraction", "0.25")
    assert result.exit_code == 0, result.output
    holdout = pd.read_csv(workdir / "synthvae-model.safetensors.holdout.csv")
    assert len(holdout) == 200
    info = json.loads(invoke("info", "--json").output)
    assert info["training_summary"]["rows"] == 600
    assert "holdout fraction" in one_line_error(invoke("fit", "data.csv", "--holdout-fraction", "1.5"))


def test_fit_with_epsilon_reports_the_ledger(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("fit", EXAMPLE_ADULT, "--epsilon", "8", "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert "Differential privacy: epsilon" in result.output
    info = invoke("info")
    assert "DP-SGD" in info.output and "histogram" in info.output
    assert "slot frequencies" in info.output  # the calibration's release, in the ledger
    assert "'epsilon'" in one_line_error(invoke("fit", EXAMPLE_ADULT, "--epsilon", "0"))
    assert "calibration_share" in one_line_error(
        invoke("fit", EXAMPLE_ADULT, "--epsilon", "8", "--calibration-share", "0.7"))
    assert "'accountant'" in one_line_error(
        invoke("fit", EXAMPLE_ADULT, "--epsilon", "8", "--accountant", "gdp"))
    assert "DP-SGD (prv accountant)" in info.output
    result = invoke("fit", EXAMPLE_ADULT, "--epsilon", "8", "--epochs", "1", "-q",
                    "--calibration-share", "0", "--accountant", "rdp")
    assert result.exit_code == 0, result.output
    info = invoke("info")
    assert "slot frequencies" not in info.output and "DP-SGD (rdp accountant)" in info.output


@pytest.mark.parametrize("name, bad", [("min_mode_rows", "-1"), ("tail_share", "0.7")])
def test_fit_passes_mode_options_to_the_model(workdir, name, bad):
    from synthvae import Synthesizer

    option = "--" + name.replace("_", "-")
    result = invoke("fit", "data.csv", "--epochs", "1", "-q", option, "0")
    assert result.exit_code == 0, result.output
    assert getattr(Synthesizer.load("synthvae-model.safetensors"), name) == 0
    assert name in one_line_error(invoke("fit", "data.csv", "--epochs", "1", "-q", option, bad))


def test_fit_passes_unseen_pairs_to_the_model(workdir):
    from synthvae import Synthesizer

    assert invoke("fit", "data.csv", "--epochs", "1", "-q").exit_code == 0
    assert Synthesizer.load("synthvae-model.safetensors").generator_.excluded is not None
    result = invoke("fit", "data.csv", "--epochs", "1", "-q", "--unseen-pairs", "0")
    assert result.exit_code == 0, result.output
    loaded = Synthesizer.load("synthvae-model.safetensors")
    assert loaded.unseen_pairs == 0 and loaded.generator_.excluded is None
    assert "unseen_pairs" in one_line_error(
        invoke("fit", "data.csv", "--epochs", "1", "-q", "--unseen-pairs", "-1"))


def test_report_after_fit_with_holdout_uses_the_holdout(workdir):
    assert invoke("fit", "data.csv", "--epochs", "2", "-q", "--holdout-fraction", "0.25").exit_code == 0
    assert invoke("sample", "-n", "600", "-q").exit_code == 0
    result = invoke("report", "data.csv", "synthetic.csv", "-m", "synthvae-model.safetensors",
                    "--json", "r.json", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((workdir / "r.json").read_text())
    assert report["format"] == "synthvae-report"
    assert report["summary"]["dcr_train_share"] is not None  # the holdout was picked up
    assert (workdir / "report.html").exists()


def test_a_refit_without_holdout_removes_the_earlier_fits_holdout(workdir):
    # The refit trains on every row, the earlier holdout's too: report -m must not score the
    # model's privacy against its own training rows taken for unseen ones.
    first = invoke("fit", "data.csv", "--epochs", "1", "-q", "--holdout-fraction", "0.25")
    assert first.exit_code == 0, first.output
    holdout = workdir / "synthvae-model.safetensors.holdout.csv"
    assert holdout.exists()
    result = invoke("fit", "data.csv", "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert not holdout.exists()
    assert "Removed synthvae-model.safetensors.holdout.csv" in result.output
    assert invoke("sample", "-n", "300", "-q").exit_code == 0
    result = invoke("report", "data.csv", "synthetic.csv", "-m", "synthvae-model.safetensors",
                    "--json", "r.json", "-q")
    assert result.exit_code == 0, result.output
    assert "Using holdout rows" not in result.output
    assert json.loads((workdir / "r.json").read_text())["summary"]["dcr_train_share"] is None


def test_paths_and_column_names_are_printed_as_written(workdir):
    # Rich read them as markup: out[v2].csv was announced as out.csv, a path holding [/]
    # raised MarkupError after the file was written, and a column weight[kg] showed as weight.
    frame = pd.read_csv("data.csv").rename(columns={"age": "weight[kg]"})
    frame.to_csv("brackets.csv", index=False)
    (workdir / "run[").mkdir()
    result = invoke("fit", "brackets.csv", "--epochs", "1", "-q", "-o", "run[/]m.safetensors")
    assert result.exit_code == 0, result.output
    assert "model written to run[/]m.safetensors" in result.output
    result = invoke("sample", "-n", "10", "-q", "-m", "run[/]m.safetensors", "-o", "out[v2].csv")
    assert result.exit_code == 0, result.output
    assert "Wrote 10 rows to out[v2].csv" in result.output
    info = invoke("info", "run[/]m.safetensors")
    assert info.exit_code == 0, info.output
    assert "run[/]m.safetensors:" in info.output and "weight[kg]" in info.output
    long_name = "a-folder-name-long-enough-that-the-path-passes-eighty-columns/" * 2
    (workdir / long_name).mkdir(parents=True)
    result = invoke("sample", "-n", "10", "-q", "-m", "run[/]m.safetensors", "-o",
                    long_name + "s.csv")
    assert f"Wrote 10 rows to {long_name}s.csv\n" in result.output  # one line when piped


def test_an_output_that_is_one_of_the_commands_inputs_is_refused_and_the_input_kept(workdir):
    # fit data.csv -o data.csv wrote the model over the table; encode replaced it by latents
    table = (workdir / "data.csv").read_bytes()
    result = invoke("fit", "data.csv", "--epochs", "1", "-q", "-o", workdir / "data.csv")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"Cannot write '{workdir / 'data.csv'}': it is 'data.csv', which this command " \
           f"reads" in result.output  # the same file, spelled another way
    assert invoke("fit", "data.csv", "--epochs", "1", "-q").exit_code == 0
    model = (workdir / "synthvae-model.safetensors").read_bytes()
    for command in (("encode", "data.csv", "-o", "data.csv"),
                    ("sample", "-n", "5", "-q", "-o", "synthvae-model.safetensors"),
                    ("report", "data.csv", "data.csv", "-q", "--json", "data.csv"),
                    ("fit", "m.holdout.csv", "-q", "-o", "m", "--epochs", "1")):
        if command[1] == "m.holdout.csv":  # an earlier fit's holdout is removed, not read
            (workdir / "m.holdout.csv").write_bytes(table)
        result = invoke(*command)
        refusal = "Cannot tell the format" if command[0] == "sample" else \
            "which this command reads"  # a model file is no table name either
        assert result.exit_code == 1 and refusal in result.output, result.output
    assert (workdir / "data.csv").read_bytes() == table
    assert (workdir / "m.holdout.csv").read_bytes() == table
    assert (workdir / "synthvae-model.safetensors").read_bytes() == model


def test_an_output_to_a_pipe_is_written_into_it_not_replaced(workdir):
    """A FIFO (or /dev/stdout) is written in place: renaming a temporary file onto it
    replaced it with a regular file (as root, /dev/null and /dev/stdout too)."""
    import threading

    os.mkfifo(workdir / "pipe.json")
    read = []
    reader = threading.Thread(target=lambda: read.append((workdir / "pipe.json").read_text()),
                              daemon=True)  # blocked for good where the pipe was replaced
    reader.start()
    result = invoke("report", "data.csv", "data.csv", "-q", "--json", "pipe.json")
    reader.join(60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(workdir / "pipe.json").st_mode)  # still the pipe
    assert "summary" in json.loads(read[0])


def test_report_refuses_an_output_name_that_is_not_html(workdir):
    result = invoke("report", "data.csv", "data.csv", "-q", "-o", "r.pdf")
    assert result.exit_code == 1 and "give -o a name ending in .html. Got 'r.pdf'" \
        in result.output
    assert not (workdir / "r.pdf").exists()
    result = invoke("report", "data.csv", "data.csv", "-q", "-o", "r.html", "--json",
                    "./r.html")  # the JSON would overwrite the page
    assert result.exit_code == 1 and "-o and --json both name 'r.html'" in result.output
    assert not (workdir / "r.html").exists()


def test_fit_with_an_unknown_decoder_is_a_one_line_error_and_writes_nothing(workdir):
    result = invoke("fit", "data.csv", "--epochs", "1", "-q", "--decoder", "made")
    assert result.exit_code != 0
    assert "'decoder'" in result.output and "autoregressive" in result.output
    assert "Traceback" not in result.output
    assert not (workdir / "synthvae-model.safetensors").exists()


def test_fit_with_the_factorized_decoder_is_named_by_info(workdir):
    assert invoke("fit", "data.csv", "--epochs", "1", "-q", "--decoder", "factorized",
                  "-o", "f.safetensors").exit_code == 0
    result = invoke("info", "f.safetensors")
    assert result.exit_code == 0 and "factorized" in result.output


def test_whole_number_categories_inside_a_fixed_combination_are_whole_in_csv():
    from synthvae import FixedCombinations, Synthesizer
    from synthvae.table_sampling import whole_number_columns

    table = pd.DataFrame({"rating": np.tile([1.0, 2.0, 3.0, np.nan], 100),
                          "g": np.tile(["a", "b"], 200), "half": np.tile([0.5, 1.0], 200)})
    synth = Synthesizer(epochs=1, verbose=False,
                        constraints=[FixedCombinations(["rating", "g"])]).fit(table)
    assert "rating" in whole_number_columns(synth)
    assert "half" not in whole_number_columns(synth)


def test_bad_command_lines_are_one_line_errors_with_exit_code_1(workdir):
    """Typer's parse errors read like every other error: no usage box, no exit code 2."""
    assert "Invalid value for '--seed'" in one_line_error(invoke("sample", "-n", "5",
                                                                 "--seed", "abc"))
    line = one_line_error(invoke("sample", "-n", "1.5"))
    assert "'--num-rows' / '-n'" in line and "See 'synthvae sample --help'." in line
    assert "is a directory" in one_line_error(invoke("sample", "-n", "5", "-m", "."))
    assert "Missing option '--num-rows'" in one_line_error(invoke("sample"))
    assert "No such option: --nope" in one_line_error(invoke("fit", "data.csv", "--nope"))
    assert "No such command 'nope'" in one_line_error(invoke("nope"))
    assert "No such option: --nope" in one_line_error(invoke("--nope"))  # synthvae's own
    assert "Usage" in invoke().output  # no command at all: the help, as before
    assert invoke("sample", "--help").exit_code == 0


def test_brackets_in_an_error_message_are_kept(workdir):
    (workdir / "bad.json").write_text('{"columns": [{"name": "[b]", "kind": "continuous"}]}')
    assert "'[b]'" in one_line_error(invoke("schema", "data.csv", "--schema", "bad.json"))


def test_outputs_that_cannot_be_written_are_one_line_errors_naming_the_path(workdir):
    invoke("fit", "data.csv", "--epochs", "1", "-q")
    for command in (["sample", "-n", "5", "-q"], ["encode", "data.csv"],
                    ["report", "data.csv", "data.csv", "-q"]):
        line = one_line_error(invoke(*command, "-o", "data.csv/out.csv"))
        assert line == "error: Cannot write 'data.csv/out.csv': 'data.csv' is a file, not a " \
                       "folder.", line
    if os.path.isdir("/sys/kernel"):  # sysfs refuses new files, even to root
        assert one_line_error(invoke("sample", "-n", "5", "-o", "/sys/s.parquet")) == \
            "error: Cannot write '/sys/s.parquet': permission denied."
    assert sorted(p.name for p in workdir.iterdir()) == ["data.csv", "synthvae-model.safetensors"]


def test_fit_checks_its_output_before_reading_or_training(workdir, monkeypatch):
    import synthvae.io

    def never(*args, **kwargs):
        raise AssertionError("the table was read before the output was checked")

    monkeypatch.setattr(synthvae.io, "read_table", never)
    line = one_line_error(invoke("fit", "data.csv", "-o", "data.csv/m.safetensors"))
    assert "'data.csv' is a file, not a folder" in line
    line = one_line_error(invoke("fit", "data.csv", "-o", "nofolder/m.safetensors"))
    assert "folder 'nofolder' does not exist" in line


def test_outputs_get_the_umask_mode_and_a_replaced_file_keeps_its_own(workdir):
    old = os.umask(0o022)
    try:
        assert invoke("fit", "data.csv", "--epochs", "1", "-q", "--holdout-fraction",
                      "0.2").exit_code == 0
        model = workdir / "synthvae-model.safetensors"
        # files of real values (the model's categories, the holdout rows): the owner's only
        assert stat.S_IMODE(model.stat().st_mode) == 0o600
        holdout = [p for p in workdir.iterdir() if "holdout" in p.name]
        assert holdout and stat.S_IMODE(holdout[0].stat().st_mode) == 0o600
        assert invoke("sample", "-n", "5", "-q").exit_code == 0
        assert stat.S_IMODE((workdir / "synthetic.csv").stat().st_mode) == 0o644
        model.chmod(0o640)
        (workdir / "synthetic.csv").chmod(0o600)
        assert invoke("fit", "data.csv", "--epochs", "1", "-q").exit_code == 0
        assert invoke("sample", "-n", "5", "-q").exit_code == 0
        assert stat.S_IMODE(model.stat().st_mode) == 0o640
        assert stat.S_IMODE((workdir / "synthetic.csv").stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_a_one_line_error(workdir):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "synthvae", "schema", "data.csv",
                               "--no-suggest"], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: Cannot write to standard output: no space left on " \
                                  "device."
