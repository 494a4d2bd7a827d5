"""scikit-learn tags shared by nhtad's binary classifiers."""

from __future__ import annotations

__all__ = ["BinaryPhysicsClassifierMixin"]


class BinaryPhysicsClassifierMixin:
    """Tags of a binary classifier whose defaults are tuned for collider samples.

    Such a classifier (SA-CWoLa's network, NPLM's kernel density ratio) separates two labelled
    samples, never more classes, and its default training (a few epochs for 10^5 events, a
    smooth kernel on sqrt(N) centres) is not a tuned classifier of scikit-learn's toy data
    sets: ``multi_class = False`` and ``poor_score = True`` tell the estimator checks so. Put it
    before ``ClassifierMixin`` in the bases.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        return tags
