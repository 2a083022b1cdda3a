"""Writing output files (synthvae/io.py): a write that cannot happen is a DataError naming the
user's path, never the temporary file, and leaves nothing behind; files get the umask's mode,
or keep the mode of the file they replace."""

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthvae.errors import DataError
from synthvae.io import atomic_path, check_writable, write_table_chunks

ROOT = Path(__file__).resolve().parents[1]
FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask_022, name):
    write_table_chunks([FRAME], tmp_path / name)
    assert mode(tmp_path / name) == 0o644  # 0666 & ~0022; mkstemp alone would give 0600
    os.umask(0o077)
    write_table_chunks([FRAME], tmp_path / f"private-{name}")
    assert mode(tmp_path / f"private-{name}") == 0o600


def test_a_file_of_real_values_is_the_owners_only_from_its_first_byte(tmp_path, umask_022):
    with atomic_path(tmp_path / "holdout.csv", private=True) as tmp:
        assert mode(tmp) == 0o600  # was 0644 until after the rename
        tmp.write_text("real rows")
    assert mode(tmp_path / "holdout.csv") == 0o600


def test_a_tsv_is_told_by_its_name_in_any_case(tmp_path):
    write_table_chunks([FRAME], tmp_path / "X.TSV")
    assert "\t" in (tmp_path / "X.TSV").read_text().splitlines()[0]
    write_table_chunks([FRAME], tmp_path / "x.tsv.csv")
    assert "\t" not in (tmp_path / "x.tsv.csv").read_text()


def test_a_new_file_of_real_values_is_the_owners_only(tmp_path, umask_022):
    write_table_chunks([FRAME], tmp_path / "holdout.csv", private=True)
    assert mode(tmp_path / "holdout.csv") == 0o600
    (tmp_path / "holdout.csv").chmod(0o640)  # shared deliberately: a rewrite keeps it
    write_table_chunks([FRAME], tmp_path / "holdout.csv", private=True)
    assert mode(tmp_path / "holdout.csv") == 0o640


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022, name):
    target = tmp_path / name
    target.write_text("old")
    target.chmod(0o640)
    write_table_chunks([FRAME], target)
    assert mode(target) == 0o640 and len(pd.read_csv(target) if name.endswith("csv")
                                         else pd.read_parquet(target)) == 3


def test_a_folder_that_is_a_file_names_the_users_path(tmp_path):
    (tmp_path / "data.csv").write_text("a\n1\n")
    target = tmp_path / "data.csv" / "out.csv"
    with pytest.raises(DataError) as caught:
        write_table_chunks([FRAME], target)
    message = str(caught.value)
    assert message == f"Cannot write {str(target)!r}: {str(target.parent)!r} is a file, not a " \
                      f"folder."
    assert ".tmp" not in message
    with pytest.raises(DataError, match="is a file, not a folder"):
        check_writable(target)


def test_a_missing_folder_and_a_folder_as_target_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"folder '.*nofolder' does not exist"):
        check_writable(tmp_path / "nofolder" / "m.safetensors")
    with pytest.raises(DataError, match="it is a folder; give a file name"):
        check_writable(tmp_path)
    assert check_writable(tmp_path / "ok.csv") == tmp_path / "ok.csv"
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_a_folder_that_refuses_new_files_is_permission_denied():
    with pytest.raises(DataError, match=r"^Cannot write '/sys/s.parquet': permission denied\.$"):
        write_table_chunks([FRAME], "/sys/s.parquet")
    with pytest.raises(DataError, match="permission denied"):
        check_writable("/sys/m.safetensors")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux procfs")
def test_proc_is_a_folder_that_takes_no_new_files():
    with pytest.raises(DataError, match=r"'/proc/s.csv': folder '/proc' does not take new"):
        write_table_chunks([FRAME], "/proc/s.csv")


def test_a_failed_write_names_the_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(DataError, match=r"'.*out.csv': no space left on device\.$"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_wraps_the_os_error_in_its_message_is_understood(tmp_path):
    class RustError(Exception):  # safetensors' SafetensorError is a plain Exception
        pass

    with pytest.raises(DataError, match="disk quota is exceeded"):
        with atomic_path(tmp_path / "m.safetensors"):
            raise RustError(f"Error while serializing: I/O error: Disk quota exceeded "
                            f"(os error {errno.EDQUOT})")
    assert list(tmp_path.iterdir()) == []


def test_errors_that_are_not_about_the_write_pass_through(tmp_path):
    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "out.csv"):
            raise KeyError("a bug")
    with pytest.raises(FileNotFoundError):  # names another file: not the output's failure
        with atomic_path(tmp_path / "out.csv"):
            open(tmp_path / "elsewhere" / "x")
    assert list(tmp_path.iterdir()) == []


FULL_DISK = """
import resource, sys
import torch
from safetensors.torch import save_file
import numpy as np
import pandas as pd
from synthvae.errors import DataError
from synthvae.io import atomic_path, write_table_chunks

resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # writes past 4 KB fail with EFBIG
big = pd.DataFrame({"x": range(20000)})
for name in ("out.csv", "out.parquet", "m.safetensors"):
    try:
        if name == "m.safetensors":
            with atomic_path(name) as tmp:
                save_file({"w": torch.zeros(20000)}, str(tmp))
        else:
            write_table_chunks([big], name)
    except DataError as exc:
        print(exc)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_write_past_the_size_limit_is_one_message_per_writer(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", FULL_DISK], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    reason = "the file is larger than the file system or the file size limit allows."
    assert done.stdout.splitlines() == [f"Cannot write {name!r}: {reason}"
                                        for name in ("out.csv", "out.parquet", "m.safetensors")]
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_swaps_in_its_own_file_still_gets_the_mode(tmp_path, umask_022):
    """safetensors writes a 0600 file of its own and renames it over the path it is given."""
    target = tmp_path / "m.safetensors"
    with atomic_path(target) as tmp:
        private = tmp_path / "writer-own"
        private.write_text("weights")
        private.chmod(0o600)
        os.replace(private, tmp)
    assert mode(target) == 0o644
    target.chmod(0o444)  # read-only: the writer still writes, the mode comes back after
    with atomic_path(target) as tmp:
        tmp.write_text("new weights")
    assert mode(target) == 0o444 and target.read_text() == "new weights"


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.csv.bz2", "out.csv.xz",
                                  "out.tsv"])
def test_a_csv_is_compressed_and_separated_as_its_name_says_and_reads_back(tmp_path, name):
    from synthvae.io import read_table

    path = tmp_path / name
    write_table_chunks([FRAME, FRAME], path)  # bz2 and xz were written uncompressed
    back = pd.read_csv(path, sep="\t" if ".tsv" in name else ",")  # pandas reads the name
    pd.testing.assert_frame_equal(back, pd.concat([FRAME, FRAME], ignore_index=True))
    pd.testing.assert_frame_equal(read_table(path), back)


def test_a_gzip_output_names_the_final_file_not_the_temporary_one(tmp_path):
    import gzip

    write_table_chunks([FRAME], tmp_path / "x.csv.gz")
    with gzip.GzipFile(tmp_path / "x.csv.gz") as stream:
        stream.read()
        assert stream.name.endswith("x.csv.gz")
    header = (tmp_path / "x.csv.gz").read_bytes()[:64]
    assert b"x.csv\x00" in header and b".tmp" not in header  # the name gunzip -N restores


def test_a_zip_output_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(DataError, match="a zip archive is not written"):
        write_table_chunks([FRAME], tmp_path / "out.csv.zip")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_output_name_lists_only_the_names_that_can_be_written(tmp_path):
    from synthvae.io import read_table

    with pytest.raises(DataError, match="expected a name ending in") as written:
        write_table_chunks([FRAME], tmp_path / "out.xlsx")
    assert ".csv.gz" in str(written.value) and ".csv.zip" not in str(written.value)
    (tmp_path / "in.xlsx").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"\.csv\.zip"):  # a zip is read, though
        read_table(tmp_path / "in.xlsx")


def test_an_output_its_disk_cannot_hold_stops_at_its_first_chunks(tmp_path, monkeypatch):
    import shutil
    from types import SimpleNamespace

    drawn = []

    def chunks(count):  # 6,000 rows of random numbers: ~100 kB, more than writers buffer
        for i in range(count):
            drawn.append(i)
            yield pd.DataFrame(np.random.default_rng(i).random((6_000, 2)), columns=["a", "b"])

    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(
        total=10**9, used=10**9 - 10**6, free=10**6))  # 1 MB free
    for name in ("out.csv", "out.csv.gz", "out.parquet"):
        drawn.clear()
        with pytest.raises(DataError, match=r"Cannot write 6,000,000 rows to '.*out.*': at "
                                            r"[\d,]+ bytes a row so far, the rows still to come "
                                            r"need about [\d.]+ GiB, and its disk has 0.0 GiB"):
            write_table_chunks(chunks(1_000), tmp_path / name, expected_rows=6_000_000)
        assert len(drawn) <= 3, name  # stopped long before the disk filled
    assert list(tmp_path.iterdir()) == []  # and left nothing behind
    assert write_table_chunks(chunks(5), tmp_path / "fits.csv", expected_rows=30_000) == 30_000


def test_damaged_compressed_input_is_a_data_error_naming_the_file(tmp_path):
    from synthvae.io import read_table

    write_table_chunks([pd.concat([FRAME] * 200)], tmp_path / "x.csv.gz")
    data = (tmp_path / "x.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])  # a truncated download
    (tmp_path / "plain.csv.xz").write_text("a,b\n1,2\n")  # not compressed as named
    for name in ("cut.csv.gz", "plain.csv.xz"):
        with pytest.raises(DataError, match=f"Cannot read '.*{name}': its compressed data"):
            read_table(tmp_path / name)


# ---------------------------------------------------------------------------- empty samples
# an empty Parquet output has the Arrow schema of a full one

@pytest.fixture(scope="module")
def typed_synth():
    import numpy as np

    from synthvae import Synthesizer

    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({
        "order_id": [f"ORD{i:05d}" for i in range(n)],
        "shop": pd.Categorical(rng.choice(["north", "south"], n),
                               categories=["east", "north", "south"]),
        "city": rng.choice(["Oslo", "Rome", "Lima"], n),
        "note": np.where(rng.random(n) < 0.3, None, rng.choice(["a", "b"], n)),
        "items": rng.integers(1, 40, n),
        "rating": pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(1, 6, n)),
                           dtype="Int64"),
        "amount": rng.lognormal(3, 1, n).round(2),
        "flag": rng.random(n) < 0.5,
        "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D")})
    return Synthesizer(epochs=1, seed=0, verbose=False).fit(df)


def _parquet_schema(path):
    import pyarrow.parquet as pq

    return pq.read_schema(path)


def test_an_empty_sample_written_to_parquet_has_the_schema_of_a_full_one(tmp_path, typed_synth):
    from typer.testing import CliRunner

    from cli.main import app

    full, empty = tmp_path / "full.parquet", tmp_path / "empty.parquet"
    assert write_table_chunks(typed_synth.iter_sample(200, seed=1), full) == 200
    assert write_table_chunks(typed_synth.iter_sample(0), empty) == 0
    schema = _parquet_schema(full)
    assert "null" not in map(str, schema.types)  # text columns are strings, not null
    assert _parquet_schema(empty).equals(schema, check_metadata=True)
    back, rows = pd.read_parquet(empty), pd.read_parquet(full)
    assert len(back) == 0 and back.dtypes.drop("shop").equals(rows.dtypes.drop("shop"))
    # a category column stays one; its categories are data, which no Parquet row holds
    assert isinstance(back["shop"].dtype, pd.CategoricalDtype)
    assert list(rows["shop"].cat.categories) == ["east", "north", "south"]
    typed_synth.save(tmp_path / "model.safetensors")  # the CLI: sample -n 0
    result = CliRunner().invoke(app, ["sample", "-m", str(tmp_path / "model.safetensors"),
                                      "-n", "0", "-q", "-o", str(tmp_path / "cli.parquet")])
    assert result.exit_code == 0, result.output
    assert _parquet_schema(tmp_path / "cli.parquet").equals(schema, check_metadata=True)


def test_an_empty_arrow_sample_has_the_types_of_a_full_one(typed_synth):
    """``sample(0, output="arrow")`` gave text columns Arrow's null type."""
    empty, full = typed_synth.sample(0, output="arrow"), typed_synth.sample(50, output="arrow")
    assert empty.num_rows == 0 and empty.schema.types == full.schema.types


def test_a_declared_schema_fills_in_only_the_types_no_rows_tell(tmp_path):
    from synthvae.frames import declare_arrow_schema
    from synthvae.io import arrow_table

    rows = pd.DataFrame({"text": ["x", None], "n": [1, 2],
                         "c": pd.Categorical(["p", "p"], categories=["p", "q"])})
    empty = declare_arrow_schema(rows.iloc[:0].copy(), arrow_table(rows).schema)
    assert str(arrow_table(rows.iloc[:0]).schema.field("text").type) == "null"  # no rows
    assert arrow_table(empty).schema.equals(arrow_table(rows).schema, check_metadata=True)
    assert arrow_table(empty).column("c").chunk(0).dictionary.to_pylist() == ["p", "q"]
    changed = empty.astype({"n": "float64"}).assign(extra=pd.Series([], dtype=object))
    types = dict(zip(arrow_table(changed).schema.names, map(str, arrow_table(changed).schema
                                                            .types)))
    assert types == {"text": "string", "n": "double", "c": types["c"], "extra": "null"}
    assert len(pd.concat([empty], ignore_index=True).attrs) == 1  # sample(0) keeps it
    pd.concat([empty]).to_parquet(tmp_path / "own.parquet")  # pandas writes attrs as JSON


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm on this system")
def test_a_regular_file_under_dev_is_replaced_atomically_not_written_in_place():
    """Only a device, a pipe or a link to a stream (/dev/stdout) is written in place; a
    regular file on /dev/shm is written through a temporary file and a rename, as any other
    (the first form treated everything under /dev/ as a stream)."""
    from synthvae.io import is_stream

    path = Path("/dev/shm") / f"synthvae-test-{os.getpid()}.csv"
    path.write_text("a\n1\n")
    try:
        before = path.stat().st_ino
        assert not is_stream(path) and is_stream(Path("/dev/null"))
        write_table_chunks([pd.DataFrame({"a": [2, 3]})], path)
        assert path.stat().st_ino != before and path.read_text() == "a\n2\n3\n"
    finally:
        path.unlink()
