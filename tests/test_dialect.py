"""Files as people write them: semicolons and decimal commas, tabs, pipes, repeated header
names, and column names that must come back exactly as written (issue 17.5)."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthvae import Synthesizer
from synthvae.errors import ConfigError, DataError, SchemaError
from synthvae.io import read_table

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def european_rows(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "city": rng.choice(["Lyon", "Köln", "Gent"], n),
        "price": np.round(rng.gamma(2.0, 10.0, n), 2),
        "rooms": rng.integers(1, 40, n),
        "rate": np.round(rng.normal(0.5, 0.2, n), 3),
    })


def write_european(df: pd.DataFrame, path, sep=";") -> None:
    df.to_csv(path, sep=sep, decimal=",", index=False)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_sniffs_the_separator_and_decimal_comma(tmp_path, sep):
    df = european_rows()
    path = tmp_path / "data.csv"
    write_european(df, path, sep)
    assert ";" in path.read_text().splitlines()[0] or sep != ";"
    read = read_table(path)
    assert list(read.columns) == list(df.columns)
    assert read["price"].dtype == np.float64 and read["rate"].dtype == np.float64
    np.testing.assert_allclose(read["price"], df["price"])


def test_tab_and_pipe_files_with_decimal_points(tmp_path):
    df = european_rows()
    for name, sep in (("data.tsv", "\t"), ("pipe.csv", "|")):
        df.to_csv(tmp_path / name, sep=sep, index=False)
        read = read_table(tmp_path / name)
        assert list(read.columns) == list(df.columns)
        assert read["price"].dtype == np.float64


def test_a_semicolon_csv_with_decimal_commas_fits_and_samples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_european(european_rows(300), "eu.csv")
    result = invoke("fit", "eu.csv", "--epochs", "2", "-q")
    assert result.exit_code == 0, result.output
    assert invoke("sample", "-n", "50", "-q").exit_code == 0
    synthetic = pd.read_csv("synthetic.csv")
    assert list(synthetic.columns) == ["city", "price", "rooms", "rate"]
    assert synthetic["price"].dtype == np.float64 and synthetic["rooms"].dtype == np.int64
    assert set(synthetic["city"]) <= {"Lyon", "Köln", "Gent"}


def test_sep_overrides_the_sniffer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Every line splits into two fields on ';' but the user says it is one column per line.
    pd.DataFrame({"a": ["x;1", "y;2", "z;3"]}).to_csv("one.csv", index=False)
    (tmp_path / "one.csv").write_text("note\nx;1\ny;2\nz;3\n")
    assert list(read_table("one.csv").columns) == ["note"]  # header has one field: no ';'
    write_european(european_rows(), "eu.csv")
    assert list(read_table("eu.csv", sep=",").columns) == ["city;price;rooms;rate"]
    assert read_table("eu.csv", sep=";", decimal=".")["price"].dtype == object
    result = invoke("schema", "eu.csv", "--sep", ",")
    assert result.exit_code == 0, result.output
    assert '"city;price;rooms;rate"' in result.output


def test_bad_sep_and_decimal_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_european(european_rows(), "eu.csv")
    assert "separator" in one_line_error(invoke("schema", "eu.csv", "--sep", ":"))
    assert "decimal mark" in one_line_error(invoke("schema", "eu.csv", "--decimal", "_"))
    with pytest.raises(ConfigError, match="both the separator and the decimal"):
        read_table("eu.csv", sep=",", decimal=",")


def test_a_repeated_header_name_is_a_one_line_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dup.csv").write_text("a,b,a\n" + "1,2,3\n" * 60)
    message = one_line_error(invoke("fit", "dup.csv", "--epochs", "1", "-q"))
    assert "'a'" in message and "more than once" in message
    (tmp_path / "dup2.csv").write_text('"x y";"x y"\n1;2\n')
    assert "'x y'" in one_line_error(invoke("schema", "dup2.csv"))


def test_a_repeated_name_in_parquet_and_dataframe_is_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["k", "k"]),
                   tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="Column 'k' appears more than once"):
        read_table(tmp_path / "dup.parquet")
    frame = pd.DataFrame(np.zeros((60, 2)), columns=["k", "k"])
    with pytest.raises(SchemaError, match="'k' appears more than once"):
        Synthesizer(epochs=1, verbose=False).fit(frame)


NAMES = ["first name", "Größe (cm)", "007", "1.5", "12", " padded ", "a,b", "日付", "x;y"]


def test_column_names_and_order_round_trip_exactly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({name: rng.normal(size=120) if i % 2 else rng.choice(["u", "v"], 120)
                       for i, name in enumerate(NAMES)})
    df.to_csv("names.csv", index=False)
    assert list(read_table("names.csv").columns) == NAMES
    assert invoke("fit", "names.csv", "--epochs", "1", "-q").exit_code == 0
    assert invoke("sample", "-n", "20", "-q").exit_code == 0
    assert list(pd.read_csv("synthetic.csv", dtype=str).columns) == NAMES
    assert list(read_table("synthetic.csv").columns) == NAMES
    synthetic = Synthesizer(epochs=1, verbose=False).fit(df).sample(10, seed=0)
    assert list(synthetic.columns) == NAMES


def test_codes_keep_their_leading_zeros_and_na_text_stays_text_where_it_is_a_value(tmp_path):
    from synthvae.io import read_table

    path = tmp_path / "codes.csv"
    path.write_text("code,country,x,n\n00123,NA,1.5,3\n01000,US,NA,4\n00007,None,,5\n"
                    "12345,null,2.5,6\n")
    df = read_table(path)
    assert df["code"].tolist() == ["00123", "01000", "00007", "12345"]  # were 123, 1000, 7
    assert df["country"].tolist() == ["NA", "US", "None", "null"]  # were missing cells
    assert df["x"].dtype == "float64" and df["x"].isna().tolist() == [False, True, True, False]
    assert df["n"].dtype == "int64"


def test_na_text_in_a_column_of_dates_or_flags_is_missing_and_padded_decimals_are_numbers(
        tmp_path):
    from synthvae.io import read_table

    path = tmp_path / "r.csv"  # as R's write.csv writes missing values
    path.write_text("day,flag,money,word\n2024-01-05,True,000123.45,a\nNA,NA,12.5,NA\n"
                    "2024-01-07,False,1.25,b\n")
    df = read_table(path)
    assert df["day"].isna().tolist() == [False, True, False]
    assert df["flag"].isna().tolist() == [False, True, False]
    assert df["money"].tolist() == [123.45, 12.5, 1.25]  # a number, not a code
    assert df["word"].tolist() == ["a", "NA", "b"]


def test_na_text_in_a_column_of_numbers_with_a_decimal_comma_is_missing(tmp_path):
    from synthvae.io import read_table

    path = tmp_path / "comma.csv"
    path.write_text("x;y\n1,5;a\nNA;b\n2,25;c\n")
    df = read_table(path)
    assert df["x"].tolist()[0] == 1.5 and df["x"].isna().tolist() == [False, True, False]


def test_numbers_in_groups_of_three_are_read_as_numbers(tmp_path, monkeypatch):
    """Spreadsheet exports write 1,234.5 (or, beside decimal commas, 1.037,01); pandas reads
    such a column as text, which was then modelled as text and regenerated as junk."""
    (tmp_path / "us.csv").write_text('amount,city,pair\n"1,234.5",Paris,"1,2"\n12.5,Lyon,'
                                     '"3,4"\n"1,234,567",Nice,"5,6"\nNA,Paris,\n7,Gent,"7,8"\n')
    us = read_table(tmp_path / "us.csv")
    assert us["amount"].tolist()[:3] == [1234.5, 12.5, 1234567.0]
    assert us["amount"].isna().tolist() == [False, False, False, True, False]
    assert us["pair"].tolist()[:2] == ["1,2", "3,4"]  # not groups of three: text
    (tmp_path / "codes.csv").write_text('zip,frac,wei\n"02,134","0,125","99,999,999,999,999,'
                                        '999,999"\n"1,234","1,250","1,000"\n')
    codes = read_table(tmp_path / "codes.csv")  # a leading zero, or beyond int64: text
    assert codes.dtypes.tolist() == [object] * 3 and codes["zip"][0] == "02,134"
    assert us["city"].tolist()[0] == "Paris"
    (tmp_path / "eu.csv").write_text("amount;city;rate\n1.037,01;Köln;0,5\n12,5;Gent;1,25\n"
                                     "1.234.567,00;Lyon;2\n999;Gent;3,5\n")
    eu = read_table(tmp_path / "eu.csv")  # the decimal comma told by the grouped column too
    assert eu["amount"].tolist() == [1037.01, 12.5, 1234567.0, 999.0]
    assert eu["rate"].tolist() == [0.5, 1.25, 2.0, 3.5]
    (tmp_path / "only.csv").write_text("amount;city\n1.037,01;Köln\n12,5;Gent\n")
    assert read_table(tmp_path / "only.csv")["amount"].tolist() == [1037.01, 12.5]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    amounts = [f"{v:,.2f}" for v in rng.gamma(2.0, 800.0, 300)]
    pd.DataFrame({"amount": amounts, "n": rng.integers(0, 9, 300)}).to_csv("a.csv", index=False)
    schema = invoke("schema", "a.csv", "--no-suggest")
    assert schema.exit_code == 0, schema.output
    assert '"kind": "continuous"' in schema.output.split('"name": "amount"')[1][:200]
