"""The scikit-learn API checks every nhtad estimator that is not a plain X -> y model passes.

One list, used by every test module that runs sklearn's check functions on such estimators
(tests of the null, combinations of toys), so that a check added here reaches all of them.
"""

from sklearn.utils import estimator_checks as ec

API_CHECKS = [
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimator_repr,
    ec.check_estimator_cloneable,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
]
