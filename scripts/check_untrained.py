"""Check that the semantic tests tell a trained model from an untrained one.

Runs the semantic tests with ``SKVAE_UNTRAINED=1``: the models they train are
then built with ``learning_rate=1e-12, max_iter=1`` (initial weights, initial
standardisation; see ``tests/_untrained.py``), and every one of them must
FAIL, on an assertion (not an error). Exits 1 otherwise, naming the tests
that passed on an untrained model.

Usage (from the project root)::

    python3 scripts/check_untrained.py

The other tests of the suite check interfaces (dtypes, bad input,
determinism, pickling) or the scoring maths against closed forms for
whatever weights a model has; they are meant to pass on any model and are
not listed here.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SEMANTIC_TESTS = [
    "tests/test_estimator.py::test_far_and_off_manifold_rows_score_lower",
    "tests/test_estimator.py::test_reconstruction_beats_the_mean_by_far",
    "tests/test_estimator.py::test_gaussian_denoising_stays_near_the_data_where_training_was_near_constant",
    "tests/test_estimator.py::test_samples_have_the_training_mean_and_spread",
    "tests/test_estimator.py::test_sample_is_reproducible_and_mean_option_is_noise_free",
    "tests/test_estimator.py::test_log_likelihood_is_above_the_elbo",
    "tests/test_estimator.py::test_pipeline_on_digits_classifies_well",
    "tests/test_estimator.py::test_grid_search_picks_the_true_latent_dimension",
    "tests/test_estimator.py::test_early_stopping_keeps_the_best_validation_weights",
    "tests/test_estimator.py::test_a_per_row_variance_fits_two_spreads_far_better",
    "tests/test_density.py::test_linear_vae_reaches_factor_analysis_on_wine",
    "tests/test_density.py::test_linear_vae_reaches_factor_analysis_on_digits_subset",
    "tests/test_density.py::test_linear_vae_reaches_factor_analysis_on_raw_digits_with_constant_pixels",
    "tests/test_density.py::test_linear_vae_reaches_factor_analysis_on_collinear_data_by_default_stopping",
    "tests/test_density.py::test_log_likelihood_is_above_the_elbo_and_rises_with_k",
    "tests/test_density.py::test_held_out_elbo_beats_independent_gaussians_on_digits",
    "tests/test_density.py::test_mlp_trains_stably_on_raw_features_of_very_different_scales",
    "tests/test_density.py::test_weight_decay_narrows_the_generalisation_gap_on_dequantised_digits",
    "tests/test_tables.py::test_a_mixed_table_is_learnt_column_by_column",
    "tests/test_tables.py::test_a_table_with_holes_in_its_discrete_columns_is_still_learnt",
    "tests/test_impute.py::test_categorical_columns_are_imputed_with_the_most_probable_category",
    "tests/test_impute.py::test_a_dataframe_with_categories_comes_back_filled_in_with_its_dtypes",
    "tests/test_size_factor.py::test_the_size_factor_models_rows_of_different_depths",
    "tests/test_impute.py::test_imputation_beats_the_mean_and_the_nearest_neighbours",
    "tests/test_impute.py::test_sampled_imputations_scatter_around_the_conditional_mean",
    "tests/test_impute.py::test_the_self_masking_model_imputes_values_missing_above_their_mean",
]


def run_untrained(tests):
    """{test id: outcome} for ``tests`` run with SKVAE_UNTRAINED=1."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        env = {**os.environ, "SKVAE_UNTRAINED": "1", "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-m", "slow or not slow", f"--junitxml={report}", *tests,
        ]
        subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        outcomes = {}  # test id -> the outcome of each of its parametrised cases
        for case in ET.parse(report).iter("testcase"):
            path = case.get("classname").replace(".", "/") + ".py"
            name = f"{path}::{case.get('name').split('[')[0]}"
            children = {child.tag: child for child in case}
            outcome = next((k for k in ("error", "skipped", "failure") if k in children), "passed")
            if outcome == "failure":
                message = children["failure"].get("message", "")
                if not message.startswith(("assert", "AssertionError")):
                    outcome = f"failure that is not an assertion ({message[:80]})"
            outcomes.setdefault(name, []).append(outcome)
    return outcomes


def main():
    outcomes = run_untrained(SEMANTIC_TESTS)
    bad = []
    for test in SEMANTIC_TESTS:
        cases = outcomes.get(test, ["not collected"])
        # A parametrised test must fail in every case.
        ok = all(case == "failure" for case in cases)
        outcome = ", ".join(sorted(set(cases)))
        print(f"{'FAILS as it should' if ok else 'PROBLEM: ' + outcome:<22} {test}")
        bad += [] if ok else [test]
    print(f"\n{len(SEMANTIC_TESTS) - len(bad)} of {len(SEMANTIC_TESTS)} semantic tests fail "
          "on an untrained model (learning_rate=1e-12, max_iter=1).")
    if bad:
        print("These do not tell a trained model from an untrained one:\n  " + "\n  ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
