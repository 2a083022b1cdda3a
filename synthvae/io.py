"""Reading tables and writing files atomically (temporary file in the same folder, then rename).

A failed or interrupted write never leaves a partial file under the final name.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import errno
import gzip
import io
import lzma
import os
import re
import secrets
import shutil
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from synthvae.dialect import (GROUPED_NUMBER, NA_TOKENS, UNGROUPED_NUMBER, check_unique_names,
                              header_names, sniff_dialect)
from synthvae.errors import DataError, SynthvaeError
from synthvae.frames import as_pandas, with_declared_types

GROUPED_SCAN_ROWS = 1_000  # a text column's first cells that tell it is no grouped numbers
TABLE_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".tsv", ".txt",
                  ".parquet", ".pq")
# what a file to write may end in: no zip (one CSV streams into gzip, bzip2 or xz, not
# into a zip's member)
OUTPUT_SUFFIXES = tuple(suffix for suffix in TABLE_SUFFIXES if suffix != ".csv.zip")


def output_format(path: Path) -> str:
    """:func:`table_format` of a file to write (``OUTPUT_SUFFIXES``): a zip archive is
    refused."""
    fmt = table_format(path, OUTPUT_SUFFIXES)
    if path.name.lower().endswith(".zip"):
        raise DataError(f"Cannot write {str(path)!r}: a zip archive is not written; name a "
                        f".csv, .csv.gz, .csv.bz2, .csv.xz or .parquet file.")
    return fmt


def table_format(path: Path, suffixes: tuple[str, ...] = TABLE_SUFFIXES) -> str:
    """"parquet" or "csv", from the name of ``path``; a name that ends in none of the known
    suffixes is a DataError listing ``suffixes`` (those of the file's use)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".txt", ".tsv")):
        return "csv"
    raise DataError(f"Cannot tell the format of {str(path)!r}: expected a name ending in "
                    f"{', '.join(suffixes)}.")


def read_table(path: str | Path, sep: str | None = None, decimal: str | None = None
               ) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame.

    A CSV's delimiter and decimal mark are ``sep``/``decimal`` where given, sniffed otherwise
    (see synthvae/dialect.py); a repeated column name is a DataError naming it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"Input file {str(path)!r} does not exist.")
    if path.is_dir():
        raise DataError(f"Input {str(path)!r} is a folder; give a CSV or Parquet file.")
    fmt = table_format(path)
    try:
        df = _read_parquet(path) if fmt == "parquet" else _read_csv(path, sep, decimal)
    except SynthvaeError:
        raise  # already says what is wrong (a repeated name, a bad --sep)
    except pd.errors.EmptyDataError:
        raise DataError(f"Input file {str(path)!r} is empty.") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start:exc.start + 1].hex()
        raise DataError(f"Cannot read {str(path)!r}: it is not UTF-8 text (it holds the byte "
                        f"0x{byte}); save it as UTF-8 (e.g. 'iconv -f latin1 -t utf-8 in.csv "
                        f"> out.csv', or pandas' to_csv).") from None
    except (EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"Cannot read {str(path)!r}: its compressed data is damaged or cut "
                        f"short (a truncated download?), or it is not compressed as its name "
                        f"says ({type(exc).__name__}: {exc}).") from None
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Cannot read {str(path)!r} as {fmt.upper()}: {first}") from None
    if len(df) == 0:
        raise DataError(f"Input file {str(path)!r} has a header but no rows.")
    return df


LEADING_ZERO = re.compile(r"^[+-]?0\d+$")  # 00123, 02134: a code, not the number 123
CODE_SCAN_ROWS = 5_000  # rows read as text to find columns of such codes
BOOLEAN_WORDS = frozenset({"true", "false"})


def _read_csv(path: Path, sep: str | None, decimal: str | None) -> pd.DataFrame:
    """Only empty cells are missing, but in a column of numbers, dates or true/false values,
    where NA_TOKENS are too (such columns are read as pandas reads them); a column whose
    text has whole numbers with leading zeros (in its first CODE_SCAN_ROWS rows) is read as
    text, so that codes keep them."""
    dialect = sniff_dialect(path, sep, decimal)
    names = header_names(path, dialect.sep)
    check_unique_names(names, repr(str(path)))
    options = dict(sep=dialect.sep, decimal=dialect.decimal)
    codes = _code_columns(pd.read_csv(path, dtype=str, nrows=CODE_SCAN_ROWS,
                                      keep_default_na=False, na_values=[""], **options))
    df = pd.read_csv(path, low_memory=False, dtype={c: str for c in codes} or None,
                     keep_default_na=False, na_values=[""], **options)
    valued = [position for position in np.flatnonzero((df.dtypes == object).to_numpy())
              if df.columns[position] not in codes
              and _tokens_mean_missing(df.iloc[:, position], dialect.decimal)]
    if valued:  # read again as pandas reads them: the words missing, the rest typed
        again = pd.read_csv(path, low_memory=False, usecols=valued, header=0,
                            names=list(range(len(df.columns))), **options)
        for position in valued:
            df.isetitem(position, again[position].set_axis(df.index))
    for position in np.flatnonzero((df.dtypes == object).to_numpy()):
        if df.columns[position] not in codes:
            numbers = grouped_numbers(df.iloc[:, position], dialect.decimal)
            if numbers is not None:
                df.isetitem(position, numbers)
    return _blank_names_kept(df, names)


def _present_text(column: pd.Series) -> pd.Series:
    """The present cells of a text column (not missing, not one of NA_TOKENS), stripped."""
    return column[column.notna() & ~column.isin(NA_TOKENS)].astype(str).str.strip()


def grouped_numbers(column: pd.Series, decimal: str) -> pd.Series | None:
    """A text column of numbers written in groups of three digits (``1,234.5``; beside a
    decimal comma, ``1.037,01``), which pandas leaves as text, as numbers; None unless every
    cell is a number written with ``decimal`` (or missing, or one of NA_TOKENS) and some
    are grouped. Only such a column is read so: a ``1,2`` elsewhere stays text. Its first
    GROUPED_SCAN_ROWS cells tell most text columns, before the whole column is read."""
    grouped_number, number = GROUPED_NUMBER[decimal], UNGROUPED_NUMBER[decimal]
    head = _present_text(column.head(GROUPED_SCAN_ROWS))
    if not (head.str.match(grouped_number) | head.str.match(number)).all():
        return None
    text = _present_text(column)
    grouped = text.str.match(grouped_number)
    if not grouped.any() or not (grouped | text.str.match(number)).all():
        return None
    plain = text.str.replace("," if decimal == "." else ".", "", regex=False)
    if decimal != ".":
        plain = plain.str.replace(decimal, ".", regex=False)
    try:
        numbers = pd.to_numeric(plain)
    except (ValueError, OverflowError):  # beyond int64 and uint64: the text, as it was
        return None
    if numbers.dtype == object:
        return None
    if len(numbers) < len(column):
        numbers = numbers.reindex(column.index)  # missing cells as NaN
    return numbers


def _code_columns(text: pd.DataFrame) -> set:
    """Columns (read as text) holding a whole number with a leading zero, such as 00123."""
    return {column for column in text.columns
            if text[column].str.match(LEADING_ZERO, na=False).any()}


def _tokens_mean_missing(column: pd.Series, decimal: str) -> bool:
    """Whether a column read as text holds NA_TOKENS beside values that are all numbers,
    dates (or times) or true/false: there the words mean a missing value."""
    from synthvae.schema import DATE_LIKE, TIME_LIKE

    tokens = column.isin(NA_TOKENS)
    if not tokens.any():
        return False
    rest = _present_text(column)
    if rest.empty:
        return True
    numbers = rest.str.replace(decimal, ".", regex=False) if decimal != "." else rest
    return bool(pd.to_numeric(numbers, errors="coerce").notna().all()
                or rest.str.lower().isin(BOOLEAN_WORDS).all()
                or (rest.str.match(DATE_LIKE) | rest.str.match(TIME_LIKE)).all())


def _blank_names_kept(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """A blank header cell (a trailing separator) stays a blank name; pandas calls it
    "Unnamed: 2", which the output would then write."""
    if len(names) != len(df.columns):
        return df
    renamed = [name if name == "" and str(column).startswith("Unnamed: ") else column
               for column, name in zip(df.columns, names)]
    return df.set_axis(renamed, axis=1) if renamed != list(df.columns) else df


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    check_unique_names(pq.read_schema(path).names, repr(str(path)))
    return parquet_frame(pq.read_table(path))


def parquet_frame(table) -> pd.DataFrame:
    """Parquet rows (an Arrow table or record batch) as pandas: a file pandas wrote as pandas
    reads it (its metadata gives the dtypes back); any other (Spark, DuckDB, Polars,
    pyarrow) as ``Synthesizer.fit`` reads an Arrow Table, in Arrow types. pandas' own
    reading turned integers with missing cells into floats and narrowed decimals' precision
    and large strings, so the synthetic file differed."""
    if table.schema.pandas_metadata is not None:
        return table.to_pandas()
    return as_pandas(table, "synthvae")


PRIVATE_MODE = 0o600  # a new file that holds real values: readable by its owner only


@contextlib.contextmanager
def atomic_path(final: Path, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it into place only on success.

    The file gets the mode of the file it replaces, or a new file's mode under the umask
    (``0666 & ~umask``), as ``open`` would give it; a new ``private`` file (one that holds
    real values: a model, a checkpoint, the holdout rows) gets PRIVATE_MODE, within the
    umask. A folder that takes no file, a full disk and the like are a DataError naming
    ``final``; no temporary file is left behind.
    """
    final = Path(final)
    if is_stream(final):  # /dev/stdout, /dev/null, a FIFO: written in place, never replaced
        yield final
        return
    tmp = _temporary_file(final, private)
    try:
        mode = _mode_for(final, tmp, private)
        yield tmp
        os.replace(tmp, final)
        # after the writer (safetensors swaps in its own 0600 file) and after the rename (a
        # read-only mode on the temporary file would stop the rename on some systems)
        os.chmod(final, mode)
    except SynthvaeError:
        raise
    except Exception as exc:  # an OSError, or a writer's own error that wraps one
        number = _os_errno(exc, tmp)
        if number is None:
            raise
        raise _write_error(final, number) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def check_writable(path: str | Path, inputs: tuple = ()) -> Path:
    """Fail before the work, not after it: the DataError that writing ``path`` would raise
    (no such folder, not a folder, permission denied, ...), found by creating and removing a
    temporary file next to it; and a DataError where ``path`` is one of the command's
    ``inputs`` (None where not given), which the output would replace (``synthvae fit
    data.csv -o data.csv`` wrote the model over the table)."""
    path = Path(path)
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise DataError(f"Cannot write {str(path)!r}: it is {str(source)!r}, which this "
                            f"command reads, and the output would replace it. Give the "
                            f"output another name.")
    if path.is_dir():
        raise _write_error(path, errno.EISDIR)
    if not is_stream(path):
        os.unlink(_temporary_file(path))
    return path


def is_stream(path: Path) -> bool:
    """Whether ``path`` (through links) is an existing file that is not a regular one: a
    device such as ``/dev/stdout`` or ``/dev/null``, or a FIFO. Such a target is written in
    place: renaming a temporary file onto it replaced the device (as root) or failed."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return True
    # /dev/stdout or /dev/fd/1 redirected to a file is a link to the stream, which a rename
    # would replace; a regular file under /dev (/dev/shm) is written atomically as any other
    return os.path.islink(path) and (str(Path(path).absolute()).startswith("/dev/")
                                     or os.readlink(path).startswith("/proc/"))


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one existing file (through links, ``./`` or another
    spelling); False where either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _temporary_file(final: Path, private: bool = False) -> Path:
    """A new empty file next to ``final``, created as ``open`` creates one (mode 0666 under
    the umask; ``tempfile.mkstemp`` would make it 0600), or PRIVATE_MODE under it for a
    ``private`` file: readable by its owner only from its first byte."""
    folder = final.parent
    if not folder.exists():
        raise DataError(f"Cannot write {str(final)!r}: folder {str(folder)!r} does not exist.")
    if not folder.is_dir():
        raise DataError(f"Cannot write {str(final)!r}: {str(folder)!r} is a file, not a "
                        f"folder.")
    for _ in range(100):
        tmp = folder / f".{final.name[:200]}.{secrets.token_hex(4)}.tmp"  # names <= 255
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             PRIVATE_MODE if private else 0o666))
            return tmp
        except FileExistsError:
            continue
        except FileNotFoundError:  # /proc, /sys: a folder that holds only its own files
            raise DataError(f"Cannot write {str(final)!r}: folder {str(folder)!r} does not "
                            f"take new files.") from None
        except OSError as exc:
            raise _write_error(final, exc.errno) from None
    raise _write_error(final, errno.EEXIST)


def _mode_for(final: Path, fresh: Path, private: bool = False) -> int:
    """The mode of the file ``final`` replaces (0640 stays 0640), else the one the freshly
    created ``fresh`` got from the umask (for a ``private`` file, no more than
    PRIVATE_MODE)."""
    try:
        return stat.S_IMODE(os.stat(final).st_mode)
    except OSError:
        umask_mode = stat.S_IMODE(os.stat(fresh).st_mode)
        return umask_mode & PRIVATE_MODE if private else umask_mode


_OS_ERROR_IN_TEXT = re.compile(r"\(os error (\d+)\)")


def _os_errno(exc: Exception, tmp: Path) -> int | None:
    """The OS error number of a failed write to ``tmp``: an OSError's (unless it names
    another file), or the one a Rust writer puts in its message (safetensors: "I/O error:
    No space left on device (os error 28)"); None for any other error."""
    if isinstance(exc, OSError):
        return exc.errno if exc.filename in (None, str(tmp), tmp) else None
    found = _OS_ERROR_IN_TEXT.search(str(exc))
    return int(found.group(1)) if found else None


_WRITE_FAILURES = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on device",
    getattr(errno, "EDQUOT", -1): "the disk quota is exceeded",  # not on every platform
    errno.EFBIG: "the file is larger than the file system or the file size limit allows",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "no free temporary file name next to it",
    errno.ENAMETOOLONG: "the file name is too long",
}


def _write_error(final: Path, number: int | None) -> DataError:
    """'Cannot write 'out.csv': permission denied.', naming the user's path, never the
    temporary file."""
    reason = _WRITE_FAILURES.get(number) or (os.strerror(number).lower() if number
                                             else "the write failed")
    return DataError(f"Cannot write {str(final)!r}: {reason}.")


def write_table_chunks(chunks: Iterable[pd.DataFrame], path: str | Path,
                       whole_numbers: Iterable[str] = (), private: bool = False,
                       expected_rows: int | None = None) -> int:
    """Stream DataFrames into one CSV or Parquet file, atomically; returns the rows written.
    In CSV, the float columns named in ``whole_numbers`` (whole numbers that pandas holds as
    floats because some are missing; the caller knows them from the model, so every chunk
    agrees) are written as ``579``, not ``579.0``. With ``expected_rows`` (the rows the
    chunks will hold), the write stops with a DataError as soon as the file's size so far
    says that the rest will not fit on its disk (:func:`_within_free_space`)."""
    path = Path(path)
    fmt = output_format(path)
    rows = 0
    whole_numbers = set(whole_numbers)
    sep = "\t" if path.name.lower().endswith(".tsv") else ","
    with atomic_path(path, private) as tmp:
        if expected_rows is not None:
            chunks = _within_free_space(chunks, tmp, path, expected_rows)
        if fmt == "parquet":
            rows = _write_parquet(chunks, tmp)
        else:
            with _text_file(tmp, path.name) as handle:
                for i, chunk in enumerate(chunks):
                    _as_whole_numbers(chunk, whole_numbers).to_csv(
                        handle, header=(i == 0), index=False, sep=sep)
                    rows += len(chunk)
    return rows


def _within_free_space(chunks: Iterable[pd.DataFrame], tmp: Path, final: Path,
                       expected_rows: int) -> Iterator[pd.DataFrame]:
    """``chunks``, checked before each one after the first: the bytes per row written to
    ``tmp`` so far, times the rows still to come, must fit in the free space of its disk.
    A mistyped ``-n`` (ten digits more) then stops at its first chunks with a DataError, not
    when the disk is full (writers that buffer make the first estimates low, never high)."""
    written = 0
    for chunk in chunks:
        if written:
            _check_room(tmp.stat().st_size / written, expected_rows - written,
                        shutil.disk_usage(tmp.parent).free, final, expected_rows)
        yield chunk
        written += len(chunk)


def _check_room(bytes_per_row: float, rows_left: int, free: int, final: Path,
                expected_rows: int) -> None:
    needed = bytes_per_row * rows_left
    if needed > free:
        raise DataError(f"Cannot write {expected_rows:,} rows to {str(final)!r}: at "
                        f"{bytes_per_row:,.0f} bytes a row so far, the rows still to come "
                        f"need about {needed / 2**30:,.1f} GiB, and its disk has "
                        f"{free / 2**30:,.1f} GiB free. Sample fewer rows, or write to "
                        f"another disk.")


@contextlib.contextmanager
def _text_file(tmp: Path, name: str) -> Iterator:
    """A UTF-8 text handle writing to ``tmp``, compressed as the final ``name`` says
    (.gz, .bz2, .xz); a gzip header names the final file, not the temporary one."""
    suffix = name.lower().rsplit(".", 1)[-1]
    with open(tmp, "wb") as raw:
        binary = gzip.GzipFile(filename=name, mode="wb", fileobj=raw) if suffix == "gz" \
            else bz2.BZ2File(raw, "wb") if suffix == "bz2" \
            else lzma.LZMAFile(raw, "wb") if suffix == "xz" else None
        handle = io.TextIOWrapper(binary or raw, encoding="utf-8", newline="")
        try:
            yield handle
        finally:
            handle.detach()  # flushes; ``raw`` is closed by its own block
            if binary is not None:
                binary.close()  # the compressed stream's end


def _as_whole_numbers(chunk: pd.DataFrame, names: set) -> pd.DataFrame:
    """The float columns of ``names`` as nullable integers, where every value is a whole
    number small enough to be exact (below 2**53)."""
    whole = {}
    for name in names & set(chunk.columns):
        values = chunk[name]
        if pd.api.types.is_float_dtype(values.dtype):
            present = values.dropna().to_numpy(np.float64)
            if (np.abs(present) < 2.0**53).all() and (present == np.round(present)).all():
                whole[name] = "Int64"
    return chunk.astype(whole) if whole else chunk


def arrow_table(chunk: pd.DataFrame):
    """``chunk`` as an Arrow table, as the Parquet writer stores it; a chunk without rows
    takes the types its declared schema gives (:func:`synthvae.frames.with_declared_types`)."""
    import pyarrow as pa

    return with_declared_types(pa.Table.from_pandas(_arrow_strings(chunk),
                                                    preserve_index=False), chunk)


def _write_parquet(chunks: Iterable[pd.DataFrame], tmp: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, rows = None, 0
    try:
        for chunk in chunks:
            try:
                table = arrow_table(chunk)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                if not table.schema.equals(writer.schema):  # a chunk whose column is all null
                    table = table.cast(writer.schema)
                writer.write_table(table)
            except (pa.ArrowException, TypeError, ValueError) as exc:  # e.g. Decimal("inf")
                raise _parquet_error(chunk, exc) from None
            rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _parquet_error(chunk: pd.DataFrame, exc: Exception) -> DataError:
    """A DataError naming the first column Parquet cannot hold (found by writing each alone)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name in chunk.columns:
        try:
            pq.write_table(pa.Table.from_pandas(chunk[[name]], preserve_index=False),
                           pa.BufferOutputStream())
        except (pa.ArrowException, TypeError, ValueError):
            kind = type(chunk[name].dropna().iloc[0]).__name__ if chunk[name].notna().any() \
                else str(chunk[name].dtype)
            return DataError(f"Column {name!r} holds {kind} values, which Parquet cannot store "
                             f"({str(exc).splitlines()[0]}); write a CSV file instead.")
    return DataError(f"The table cannot be written as Parquet ({str(exc).splitlines()[0]}).")


def _arrow_strings(chunk: pd.DataFrame) -> pd.DataFrame:
    """``string[pyarrow]`` columns as Arrow strings: the same data, but pandas' Parquet
    metadata then names them "string[pyarrow]" (for StringDtype it writes "string", which
    pandas reads back as Python-backed strings)."""
    import pyarrow as pa

    arrow = {name: pd.ArrowDtype(pa.string()) for name, dtype in chunk.dtypes.items()
             if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"}
    return chunk.astype(arrow) if arrow else chunk


def split_holdout(df: pd.DataFrame, fraction: float, seed: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(training rows, holdout rows) split at random; no holdout when ``fraction`` is 0."""
    if not 0 <= fraction < 1:
        raise DataError(f"The holdout fraction must be in [0, 1). Got {fraction!r} instead.")
    if fraction == 0:
        return df, None
    n_holdout = int(round(len(df) * fraction))
    if n_holdout < 1 or n_holdout >= len(df):
        raise DataError(f"A holdout fraction of {fraction} leaves no rows on one side of a "
                        f"{len(df)}-row table.")
    order = np.random.default_rng(seed).permutation(len(df))
    holdout = df.iloc[np.sort(order[:n_holdout])].reset_index(drop=True)
    return df.iloc[np.sort(order[n_holdout:])].reset_index(drop=True), holdout


def holdout_path(model_path: str | Path) -> Path:
    """Where ``synthvae fit --holdout-fraction`` keeps the holdout rows of a model."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".holdout.csv")
