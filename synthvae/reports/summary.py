"""The flat ``summary`` of a report: headline numbers picked from the detailed sections."""

from __future__ import annotations

# summary key -> path into {"fidelity": ..., "privacy": ..., "rules": ...};
# None anywhere on the path -> None
SUMMARY_PATHS = {
    "column_shapes": ("fidelity", "column_shapes", "score"),
    "column_pair_trends": ("fidelity", "column_pair_trends", "score"),
    "column_pair_trends_all_pairs": ("fidelity", "column_pair_trends", "score_all_pairs"),
    "column_pair_trends_real_bins": ("fidelity", "column_pair_trends", "score_real_bins"),
    "data_validity": ("fidelity", "diagnostic", "data_validity"),
    "data_structure": ("fidelity", "diagnostic", "data_structure"),
    "logistic_detection": ("fidelity", "detection", "logistic", "score"),
    "gb_detection_auc": ("fidelity", "detection", "gradient_boosting", "auc"),
    "gb_detection_score": ("fidelity", "detection", "gradient_boosting", "score"),
    "ml_efficacy_synthetic": ("fidelity", "ml_efficacy", "synthetic", "@primary"),
    "ml_efficacy_real": ("fidelity", "ml_efficacy", "real", "@primary"),
    "ml_efficacy_ratio": ("fidelity", "ml_efficacy", "ratio"),
    "alpha_precision": ("fidelity", "coverage", "alpha_precision"),
    "beta_recall": ("fidelity", "coverage", "beta_recall"),
    "authenticity": ("fidelity", "coverage", "authenticity"),
    "exact_copies": ("privacy", "exact_copies", "count"),
    "exact_copy_share": ("privacy", "exact_copies", "share"),
    "holdout_exact_copy_share": ("privacy", "exact_copies", "holdout_share"),
    "dcr_synthetic_median": ("privacy", "dcr", "synthetic_median"),
    "dcr_holdout_median": ("privacy", "dcr", "holdout_median"),
    "dcr_median_ratio": ("privacy", "dcr", "median_ratio"),
    "dcr_train_share": ("privacy", "dcr", "train_share"),
    "mia_distance_auc": ("privacy", "membership_inference", "distance", "auc"),
    "mia_distance_tpr_at_1pct_fpr": ("privacy", "membership_inference", "distance",
                                     "tpr_at_1pct_fpr"),
    "mia_domias_auc": ("privacy", "membership_inference", "domias", "auc"),
    "mia_domias_tpr_at_1pct_fpr": ("privacy", "membership_inference", "domias",
                                   "tpr_at_1pct_fpr"),
    "disclosure_protection": ("privacy", "attribute_inference", "score"),
    "dp_epsilon": ("privacy", "differential_privacy", "epsilon"),
    "dp_delta": ("privacy", "differential_privacy", "delta"),
    "functional_dependencies": ("rules", "totals", "functional_dependencies"),
    "fd_violation_share": ("rules", "totals", "functional_dependency_violation_share"),
    "zero_support_pairs": ("rules", "totals", "zero_support_pairs"),
    "zero_support_share": ("rules", "totals", "zero_support_share"),
    "inequalities": ("rules", "totals", "inequalities"),
    "inequality_violation_share": ("rules", "totals", "inequality_violation_share"),
}


def headline(fidelity: dict, privacy: dict, rules: dict | None = None) -> dict:
    """Every key of ``SUMMARY_PATHS``, always present, None where not computed."""
    sections = {"fidelity": fidelity, "privacy": privacy, "rules": rules}
    return {key: _lookup(sections, path) for key, path in SUMMARY_PATHS.items()}


def _lookup(node, path: tuple):
    for step in path:
        if node is None:
            return None
        if step == "@primary":  # ML efficacy: the task's main metric (roc_auc or r2)
            step = _primary_metric(node)
        node = node.get(step)
    return node


def _primary_metric(scores: dict) -> str:
    return "roc_auc" if "roc_auc" in scores else "r2"
