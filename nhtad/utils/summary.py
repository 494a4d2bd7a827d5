"""Plain-text summaries of results: the shared wording of p-values, Z, null laws and details.

A result printed for a person should say which test ran, how incompatible the data are with the
background-only hypothesis and how the p-value was obtained, in the words of an analysis: the
one-sided Gaussian significance ``Z = Phi^{-1}(1 - p)`` of Cowan, Cranmer, Gross and Vitells,
EPJC 71 (2011) 1554, eq. 1. These helpers hold that wording so that every result object
(:class:`~nhtad.stats.TestResult`, :class:`~nhtad.scoring.OutOfFoldScores`,
:class:`~nhtad.scoring.DecorrelationReport`, :class:`~nhtad.stats.ProfileLikelihood`) says it
the same way. They take plain values and import nothing else from nhtad, so any module can use
them.
"""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Mapping

import numpy as np

__all__ = [
    "format_pvalue",
    "format_significance",
    "format_value",
    "significance_sentence",
    "method_text",
    "detail_lines",
    "counting_lines",
    "wrap",
    "aligned",
]

#: Width of the wrapped text (the package's line length).
WIDTH = 100
#: Strings longer than this are explanations, not values: shown as wrapped notes.
_MAX_VALUE_TEXT = 60
#: Tuples longer than this are data (per-member lists, edges), not a detail to read.
_MAX_TUPLE = 6
#: Bookkeeping keys of ``details`` that say nothing about the test's outcome.
_HIDDEN = frozenset({"requested_method", "fit_calls", "fit_attempts", "sqrt_s"})
#: Keys shown before the others.
_FIRST = ("test",)
#: Readable names of the ``details`` keys the tests share; other keys are shown as they are.
_LABELS = {
    "test": "inner test",
    "null": "null",
    "pvalue_source": "p-value source",
    "n_bins": "bins",
    "dof": "degrees of freedom",
    "degree": "trend degree (chosen)",
    "degree_rule": "trend degree rule",
    "degree_selection": "degree selection",
    "williams_q": "Williams correction q",
    "mutual_information": "mutual information I (nats)",
    "mutual_information_simulation": "mutual information, simulation (nats)",
    "statistic_2NI": "2 N I",
    "n_simulation": "simulated events",
    "n_data": "data events",
    "threshold": "score threshold",
    "efficiency": "efficiency (requested)",
    "efficiency_measured": "efficiency (measured in the sidebands)",
    "eps1": "signal-region efficiency eps1",
    "eps2": "sideband efficiency eps2",
    "expected_background": "expected background B",
    "background": "expected background B",
    "background_error": "background uncertainty sigma_B",
    "b": "expected background B",
    "signal_yield": "fitted signal yield mu_hat",
    "signal_yield_error": "signal yield error",
    "n_signal_region": "signal-region count N",
    "n1_selected": "signal-region count N (after the cut)",
    "N_obs": "data count N (above the cut)",
    "k_R": "reference count k_R (above the cut)",
    "n_at_or_beyond": "resamples at or beyond the statistic",
    "empirical_pvalue": "empirical p-value",
    "fit_chi2_ndf": "sideband fit deviance / ndf",
    "fit_pvalue": "sideband fit p-value",
    "trend_significance": "Z of the trend (vs no trend)",
    "spurious_signal_significance": "spurious-signal Z",
    "best_member": "most significant member",
}
_LN10 = math.log(10.0)


def wrap(text, indent="", first="") -> str:
    """``text`` wrapped to :data:`WIDTH`, the first line after ``first``, the rest ``indent``."""
    return textwrap.fill(
        text, WIDTH, initial_indent=first, subsequent_indent=indent, break_on_hyphens=False
    )


def aligned(rows, indent="  ") -> list[str]:
    """``label : text`` lines with the colons aligned, long texts wrapped under themselves."""
    rows = [(label, text) for label, text in rows if text is not None]
    if not rows:
        return []
    width = max(len(label) for label, _ in rows)
    lines = []
    for label, text in rows:
        head = f"{indent}{label:<{width}} : "
        lines.append(wrap(str(text), indent=" " * len(head), first=head))
    return lines


def format_pvalue(pvalue, log_pvalue=math.nan, digits=3) -> str:
    """A p-value in scientific notation, formed from ``log p`` where the float ``p`` underflows.

    ``exp(log p)`` is subnormal or 0 below about 1e-308; the mantissa and exponent are then
    read from ``log10 p = log p / ln 10`` (``log p = -806`` gives ``"1.00e-350"``), so a
    significance far in the tail still prints its p-value.

    Parameters
    ----------
    pvalue : float
        The p-value (used when ``log_pvalue`` is NaN).
    log_pvalue : float, default=nan
        Its natural logarithm, preferred when given.
    digits : int, default=3
        Significant digits.
    """
    log_p = float(log_pvalue)
    if math.isnan(log_p):
        p = float(pvalue)
        if math.isnan(p):
            return "nan"
        if p <= 0.0:
            return "0 (underflow; log p unknown)"
        log_p = math.log(p)
    if log_p == -math.inf:
        return "0"
    if log_p >= math.log(sys.float_info.min):
        return f"{math.exp(log_p):.{digits - 1}e}"
    log10 = log_p / _LN10
    exponent = math.floor(log10)
    mantissa = round(10.0 ** (log10 - exponent), digits - 1)
    if mantissa >= 10.0:  # rounding carried into the next decade (9.999 -> 10.00)
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.{digits - 1}f}e{exponent:+03d}"


def format_significance(z) -> str:
    """Z with two decimals (``inf``/``-inf``/``nan`` as such)."""
    z = float(z)
    if not math.isfinite(z):
        return str(z)
    text = f"{z:.2f}"
    return "0.00" if text == "-0.00" else text  # a rounded -0.001 is no deficit worth a sign


def significance_sentence(z, *, lower_bound=False) -> str:
    """What Z says about the background-only hypothesis, in one sentence.

    ``Z = Phi^{-1}(1 - p)`` is the one-sided Gaussian significance (Cowan et al., EPJC 71
    (2011) 1554, eq. 1): ``Z <= 0`` (``p >= 1/2``) is no excess at all. With
    ``lower_bound=True`` (the p-value is an upper bound) Z is a lower bound.
    """
    z = float(z)
    text = format_significance(z)
    if math.isnan(z):
        return "Z = nan: the test gave no significance."
    if lower_bound:
        if z <= 0:
            return (
                f"Z >= {text} (a lower bound: p is only bounded, here trivially): no statement "
                f"about an excess until the p-value is calibrated."
            )
        return (
            f"Z >= {text} sigma (a lower bound, since p is an upper bound): the data depart "
            f"from the background-only hypothesis by at least {text} sigma (one-sided)."
        )
    if z <= 0:
        return (
            f"Z = {text} sigma: no excess (Z <= 0 means the data look no less background-like "
            f"than the median background-only outcome)."
        )
    return (
        f"Z = {text} sigma: a one-sided excess of {text} sigma over the background-only "
        f"hypothesis (by convention, evidence from 3 sigma, a discovery from 5)."
    )


def _asymptotic_law(details, n_null) -> str:
    """The asymptotic law a test's ``details`` point to (their keys say which test ran)."""
    tail = details.get("tail_law")
    if details.get("pvalue_source") == "tail_law" and isinstance(tail, Mapping):
        return (
            f"the {tail.get('law', 'fitted')} law fitted to {n_null} resamples, extrapolated "
            f"into the tail (too few resamples reach the observed statistic)"
        )
    if "q0" in details:
        return (
            "the half-chi^2 law of the profile-likelihood ratio q0, Z = sqrt(q0) (Wilks; Cowan, "
            "Cranmer, Gross, Vitells, EPJC 71 (2011) 1554)"
        )
    if details.get("mode") == "anomaly_cut":
        return "the Gaussian approximation of the signal-region count, Z = (N - B) / sqrt(Var)"
    if details.get("bkr_statistic") is not None:
        return "the Blum-Kiefer-Rosenblatt limiting law of the independence statistic"
    if "dof" in details:
        dof = format_value(details["dof"])
        law = f"the chi^2 law with {dof} degree{'' if dof == '1' else 's'} of freedom"
        q = details.get("williams_q")
        source = details.get("pvalue_source")
        if source == "chi2_williams" or (
            source is None and isinstance(q, float | int) and not math.isclose(q, 1.0)
        ):
            law += f", Williams-corrected (statistic / q, q = {format_value(q)})"
        return law
    return "an asymptotic null law"


def method_text(method, details=None, n_null=0) -> str:
    """How a p-value was obtained, in words: the ``method`` of a result and what its details add.

    Parameters
    ----------
    method : str
        One of the methods of :class:`~nhtad.stats.TestResult` (``"asymptotic"``, ``"exact"``,
        ``"resampled"``, ``"toys"``, ``"bound"``, ``"extrapolated"``); any other value is shown
        as it is.
    details : Mapping, default=None
        The result's details (they name the law, the null and the tail counts).
    n_null : int, default=0
        Size of the resampled or toy null distribution.
    """
    details = {} if details is None else details
    null = details.get("null")
    if method == "asymptotic":
        return f"asymptotic: {_asymptotic_law(details, n_null)}"
    if method == "exact":
        if "binomial_p" in details:
            law = (
                "the binomial law of the data count given the data + reference count above "
                "the cut (the unknown background rate drops out)"
            )
        elif details.get("mode") == "template":
            law = "the Poisson tail of the count above the cut, given the predicted background"
        else:
            law = "the test's exact finite-sample law"
        return f"exact: {law}"
    if method == "resampled":
        kind = f"{null} " if isinstance(null, str) and null != "asymptotic" else ""
        k = details.get("n_at_or_beyond")
        reach = "" if k is None else f", {format_value(k)} of them at or beyond the statistic"
        return (
            f"resampled: empirical p = (1 + k) / (1 + N) over N = {n_null} {kind}resamples{reach}"
        )
    if method == "toys":
        return f"toys: calibrated on {n_null} toys (pseudo-experiments of the whole chain)"
    if method == "extrapolated":
        law = details.get("extrapolation", "a law")
        dof = details.get("chi2_dof")
        law = "chi^2" if law == "chi2" else law
        fitted = f"the {law} law" + ("" if dof is None else f" with {format_value(dof)} dof")
        empirical = details.get("empirical_pvalue")
        alone = (
            ""
            if empirical is None
            else f"; the toys alone give p = {format_pvalue(empirical)}, floored at 1/(N + 1)"
        )
        n_toys = details.get("n_toys", n_null)
        return (
            f"extrapolated: {fitted} fitted to N = {format_value(n_toys)} toys, applied beyond "
            f"them{alone}"
        )
    if method == "bound":
        text = "bound: p is an upper bound on the true p-value, so Z is a lower bound"
        if details.get("pvalue_source") == "bound" and n_null:
            text += f" (none of the {n_null} resamples reaches the statistic: p <= 1/(N + 1))"
        return text
    return str(method)


def format_value(value) -> str | None:
    """A detail's value as short text, or ``None`` when it is not a value to read.

    Scalars (numbers, booleans, short strings) and short tuples of them are shown; arrays,
    mappings, long tuples and long strings (explanations: see :func:`detail_lines`) are not.
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return format_value(value.item()) if value.ndim == 0 else None
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, str):
        return value if len(value) <= _MAX_VALUE_TEXT else None
    if isinstance(value, tuple | list) and 0 < len(value) <= _MAX_TUPLE:
        parts = [format_value(v) for v in value]
        if all(p is not None and not isinstance(v, tuple | list) for p, v in zip(parts, value)):
            return "(" + ", ".join(parts) + ")"
    return None


def detail_lines(details, *, skip=(), indent="    ") -> tuple[list[str], list[str]]:
    """The readable part of a result's ``details``: ``(aligned lines, notes)``.

    Scalars and short tuples become ``label : value`` lines (shared keys under readable
    labels); long strings are explanations a test left (why p came from where it did) and are
    returned as notes; arrays, mappings and long tuples are left out.
    """
    rows, notes = [], []
    # The inner test of a chain first: the lines after it are its details.
    ordered = sorted(details.items(), key=lambda item: item[0] not in _FIRST)
    for key, value in ordered:
        if key in _HIDDEN or key in skip:
            continue
        if isinstance(value, str) and len(value) > _MAX_VALUE_TEXT:
            notes.append(value)
            continue
        text = format_value(value)
        if text is not None:
            rows.append((_LABELS.get(key, key), text))
    return aligned(rows, indent), notes


#: ``(observed, expected)`` keys of the tests that compare a count with a background prediction:
#: the bump hunt, the anomaly cut and the template cut-and-count.
_COUNT_KEYS = (
    ("n_signal_region", "background"),
    ("n1_selected", "expected_background"),
    ("N_obs", "b"),
)


def _background_error(details, expected) -> tuple[float, str]:
    """The uncertainty of the background prediction in ``details`` and where it comes from."""
    if "background_error" in details:
        source = (
            "the sideband fit and the measured cut efficiency"
            if details.get("background_error_efficiency")
            else "the sideband fit"
        )
        return float(details["background_error"]), source
    if "variance" in details:
        # The anomaly cut's Var = B + (variance of the prediction from the sideband count).
        sigma = math.sqrt(max(float(details["variance"]) - expected, 0.0))
        return sigma, "the sideband events that pass the cut, which set B"
    if details.get("reference_error") and "k_R" in details and "w" in details:
        sigma = float(details["w"]) * math.sqrt(float(details["k_R"]))
        return sigma, "the finite reference sample above the cut (k_R events)"
    return 0.0, ""


def counting_lines(details, significance, indent="  ") -> list[str]:
    """Observed vs expected count and why Z can be below ``S / sqrt(B)``; ``[]`` without counts.

    ``S / sqrt(B)`` with ``S = N - B`` counts only the Poisson fluctuation of a perfectly known
    background. The tests also account for the uncertainty ``sigma_B`` of the prediction
    (variance ``B + sigma_B^2`` to first order: Cowan et al., EPJC 71 (2011) 1554, eq. 52 for
    the profile likelihood) or use the exact Poisson tail, so their Z is lower where
    ``sigma_B`` is comparable with ``sqrt(B)``.
    """
    for observed_key, expected_key in _COUNT_KEYS:
        if observed_key in details and expected_key in details:
            break
    else:
        return []
    n, b = float(details[observed_key]), float(details[expected_key])
    sigma, source = _background_error(details, b)
    excess = n - b
    z0 = excess / math.sqrt(b) if b > 0 else math.inf
    z = float(significance)
    head = (
        f"Count: N = {n:.0f} observed where B = {b:.4g} +- {sigma:.3g} background events are "
        f"expected, an excess S = N - B = {excess:.4g}; S/sqrt(B) = {format_significance(z0)}."
    )
    if excess <= 0:
        why = "No excess: Z is at most 0."
    elif sigma > 0:
        why = (
            f"S/sqrt(B) treats B as exact; Z = {format_significance(z)} also counts the "
            f"+-{sigma:.3g} uncertainty of the prediction (from {source}), which widens the "
            f"background-only spread to sqrt(B + sigma_B^2)"
            + (", so Z is below S/sqrt(B)." if z < z0 else ".")
        )
    else:
        why = (
            f"B is taken as exact; Z = {format_significance(z)} comes from the Poisson law of "
            f"N, not from the Gaussian S/sqrt(B), and the two differ for small counts."
        )
    return [wrap(f"{head} {why}", indent=indent + "  ", first=indent)]
