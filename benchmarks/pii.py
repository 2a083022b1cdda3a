"""Fake PII generation speed: rows per second per kind, built-in lists and Faker's lists.

``python -m benchmarks.pii [--rows 200000] [--repeats 3]`` fits each kind's generator on
3,000 real values (tests/test_pii.py's table: values drawn from the generator's own
vocabulary, the hardest case for the fence) and times ``generate`` for ``--rows`` rows,
best of ``--repeats``; one thread. For scale, a per-row Faker call (``Faker.name()``,
``Faker.email()``) is timed on 20,000 rows. Then the variety the fence leaves: distinct
values among 20,000 generated names when 3,000 or 30,000 real ones are drawn from the
generator's own vocabulary. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from synthvae.transforms import vocabulary

    sources = [vocabulary.BUILTIN] + ([f"faker:{vocabulary.DEFAULT_LOCALE}"]
                                      if vocabulary.faker_available() else [])
    print(f"rows: {args.rows:,}; best of {args.repeats}; load {os.getloadavg()[0]:.2f}")
    print("| kind | " + " | ".join(f"{s} rows/s" for s in sources) + " |")
    print("|---|" + "---:|" * len(sources))
    rates = {source: _rates(source, args.rows, args.repeats) for source in sources}
    for kind in rates[sources[0]]:
        print(f"| {kind} | " + " | ".join(f"{rates[s][kind]:,.0f}" for s in sources) + " |")
    if vocabulary.faker_available():
        _per_row_faker()
    print("\n| vocabulary | real rows | column | distinct real | distinct in 20,000 fake |")
    print("|---|---:|---|---:|---:|")
    for source in sources:
        for n in (3000, 30_000):
            for column, real, fake in _variety(source, n):
                print(f"| {source} | {n:,} | {column} | {real:,} | {fake:,} |")


def _fitted(source: str, n: int = 3000):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_pii import people

    from synthvae.schema import detect_schema
    from synthvae.transforms import vocabulary
    from synthvae.transforms.table import TableTransformer

    available = vocabulary.faker_available
    if source == vocabulary.BUILTIN:  # the fit records the source it used
        vocabulary.faker_available = lambda: False
    try:
        df = people(source, n=n)
        table = TableTransformer(detect_schema(df), seed=0).fit(df)
    finally:
        vocabulary.faker_available = available
    assert all(t.source_ == source for t in table.transformers_ if hasattr(t, "source_"))
    return df, table


def _variety(source: str, n: int) -> list:
    df, table = _fitted(source, n)
    return [(t.spec.name, df[t.spec.name].nunique(), len(set(t.generate(np.arange(20_000), 0))))
            for t in table.transformers_ if t.spec.name in ("customer_name", "first_name")]


def _rates(source: str, rows: int, repeats: int) -> dict:
    _, table = _fitted(source)
    out = {}
    for generator in table.transformers_:
        if not getattr(generator.spec, "pii", None):
            continue
        generator.generate(np.arange(1000), seed=0)  # warm the vocabulary caches
        best = min(_timed(generator, rows, seed) for seed in range(repeats))
        out[f"{generator.spec.pii} ({generator.spec.name})"] = rows / best
    return out


def _timed(generator, rows: int, seed: int) -> float:
    start = time.perf_counter()
    generator.generate(np.arange(rows), seed=seed)
    return time.perf_counter() - start


def _per_row_faker(rows: int = 20_000) -> None:
    from faker import Faker

    fake = Faker("en_US")
    for method in ("name", "email"):
        start = time.perf_counter()
        for i in range(rows):
            fake.seed_instance(i)
            getattr(fake, method)()
        print(f"per-row Faker.{method}() with seed_instance: "
              f"{rows / (time.perf_counter() - start):,.0f} rows/s")


if __name__ == "__main__":
    main()
