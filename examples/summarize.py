"""Print a short real-vs-synthetic summary: shape, dtypes, and sdmetrics column scores."""

import sys
import warnings

import pandas as pd
from rich.console import Console
from rich.table import Table

from synthvae import detect_schema


def main(real_path: str, synthetic_path: str) -> None:
    real, synthetic = pd.read_csv(real_path), pd.read_csv(synthetic_path)
    console = Console()
    console.print(f"real: {len(real):,} rows; synthetic: {len(synthetic):,} rows; "
                  f"same columns: {list(real.columns) == list(synthetic.columns)}; "
                  f"same dtypes: {real.dtypes.equals(synthetic.dtypes)}")
    with warnings.catch_warnings():
        # sdmetrics marks its single-table report deprecated (a FutureWarning on import);
        # it is the one whose thresholds can be set so that every column pair counts
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.real_correlation_threshold = 0  # every column pair counts
        report.real_association_threshold = 0
        report.generate(real, synthetic.sample(len(real), random_state=0),
                        detect_schema(real).to_sdmetrics_metadata(), verbose=False)
    shapes = report.get_details("Column Shapes")
    table = Table("column", "metric", "score")
    for _, row in shapes.iterrows():
        table.add_row(row["Column"], row["Metric"], f"{row['Score']:.3f}")
    console.print(table)
    scores = report.get_properties().set_index("Property")["Score"]
    console.print(f"Column Shapes {scores['Column Shapes']:.3f}, "
                  f"Column Pair Trends (all pairs) {scores['Column Pair Trends']:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
