"""Classifier chain over a label space that grows while the stream runs."""

from __future__ import annotations

import math
import typing

from river import base, linear_model

from learners.base import Features, Label, LabelDict, LabelMask, MultiLabelClassifier, as_label_dict
from learners.binary_relevance import member_seed, seeded_clone

__all__ = ["ClassifierChain"]


def _chain_feature(label: Label) -> tuple[str, Label]:
    # A tuple key cannot collide with the string feature names that readers produce.
    return ("chain", label)


class _FeatureScaler:
    """Puts features on a common scale for the default links, once per instance for all of them.

    A feature present in every instance so far is standardised (mean 0, variance 1). A feature
    that has been absent at least once is sparse (absent means 0): centring it would make every
    absent feature non-zero, so it is only divided by the largest magnitude seen, which leaves
    0/1 word indicators as they are. A feature never learned from is left out when predicting:
    no link has a weight for it yet.
    """

    def __init__(self):
        self.n = 0
        # Per feature: times present, running mean and sum of squared deviations of the present
        # values (Welford, stable for large offsets), largest magnitude.
        self.stats: dict[typing.Hashable, list[float]] = {}

    def learn(self, x: Features) -> None:
        self.n += 1
        stats = self.stats
        for name, value in x.items():
            entry = stats.get(name)
            if entry is None:
                stats[name] = [1, value, 0.0, abs(value)]
                continue
            count = entry[0] + 1
            delta = value - entry[1]
            entry[0] = count
            entry[1] += delta / count
            entry[2] += delta * (value - entry[1])
            if abs(value) > entry[3]:
                entry[3] = abs(value)

    def transform(self, x: Features) -> Features:
        n = self.n
        out = {}
        for name, value in x.items():
            entry = self.stats.get(name)
            if entry is None:
                continue
            count, mean, sum_sq_dev, max_abs = entry
            if count == n:
                variance = sum_sq_dev / count
                out[name] = (value - mean) / math.sqrt(variance) if variance > 1e-12 else 0.0
            else:
                out[name] = value / max_abs if max_abs > 0.0 else 0.0
        return out


class ClassifierChain(MultiLabelClassifier):
    """Classifier chain: each label's binary classifier also sees the labels before it.

    The links are ordered as in ``order``, followed by the labels that appear in the stream but
    not in ``order``, in order of appearance. A new label's link is appended to the end of the
    chain and starts fresh: it has seen only the instances since its label appeared, and the
    links before it never see its value. A label that is known but absent from a ``dict`` target
    is taken as off.

    When learning, each link gets the features plus the true values of the labels before it
    (the classic chain of Read et al.). When predicting, it gets the previous links' predicted
    values instead, so a prediction depends on the features only; in a prequential loop, predict
    before learning on the same record so that its labels cannot leak. A label value is a feature
    ``("chain", label)`` that is 1.0 when the label is on and absent (0, as in sparse data) when
    it is off, which keeps long chains over rare labels cheap.

    With partial feedback (:meth:`learn_one_masked`) only the links of judged labels learn; a
    label not judged passes its predicted value down the chain, as when predicting.

    Parameters
    ----------
    classifier
        The river binary classifier each link is cloned from, fed the features as they come.
        ``None`` means logistic regression links fed features that the chain scales once per
        instance: features present in every instance are standardised, sparse ones (absent
        means 0) are divided by the largest magnitude seen. Unscaled dense features (audio or
        image descriptors) make SGD logistic regression crawl, while standardising sparse 0/1
        word indicators destroys them; this handles both.
    order
        Labels whose links are created up front, in this order; they are known from the start.
    seed
        Seed from which each link's seed is derived, together with its label, wherever the
        classifier takes a ``seed``. ``None`` keeps the classifier's own seeds.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(5)
    >>> model = ClassifierChain(seed=5)
    >>> hits = 0
    >>> for _ in range(500):
    ...     x = {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)}
    ...     first = x["a"] > 0
    ...     y = {"first": first, "both": first and x["b"] > 0}
    ...     hits += model.predict_one(x) == y
    ...     model.learn_one(x, y)
    >>> model.order_of_links
    ['first', 'both']
    >>> print(f"{hits / 500:.2f}")
    0.81

    References
    ----------
    .. [1] Read, J., Pfahringer, B., Holmes, G. and Frank, E., 2011. Classifier chains for
       multi-label classification. Machine Learning, 85(3), pp. 333-359.

    """

    def __init__(
        self,
        classifier: base.Classifier | None = None,
        order: typing.Sequence[Label] | None = None,
        seed: int | None = None,
    ):
        self.classifier = classifier
        self.order = order
        self.seed = seed
        if order is not None and len(set(order)) != len(order):
            raise ValueError(f"order must not repeat a label, got {list(order)!r}")
        self._reset()

    def _reset(self):
        if self.classifier is None:
            self._prototype = linear_model.LogisticRegression()
            self._scaler: _FeatureScaler | None = _FeatureScaler()
        else:
            self._prototype = self.classifier
            self._scaler = None
        self._links: dict[Label, base.Classifier] = {}
        for label in self.order or ():
            self._add_link(label)

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"classifier": linear_model.LogisticRegression(), "order": ["b", "a"], "seed": 2}

    @property
    def order_of_links(self) -> list[Label]:
        """The labels of the links, from the head of the chain to its end."""
        return list(self._links)

    def _add_link(self, label: Label) -> None:
        seed = None if self.seed is None else member_seed(self.seed, label)
        self._links[label] = seeded_clone(self._prototype, seed)

    def learn_one(self, x: Features, y: LabelDict | typing.AbstractSet[Label]) -> None:
        self._learn(x, y, None)

    def learn_one_masked(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask) -> None:
        self._learn(x, y, None if mask.judges_all else mask)

    def _learn(self, x: Features, y: LabelDict | typing.AbstractSet[Label], mask: LabelMask | None) -> None:
        y = as_label_dict(y, known=self._links)
        for label in y:
            if label not in self._links:
                self._add_link(label)
        if self._scaler is None:
            x = dict(x)
        else:
            self._scaler.learn(x)
            x = self._scaler.transform(x)
        for label, link in self._links.items():
            if mask is None or mask.judged(label):
                on = y.get(label, False)
                link.learn_one(x, on)
            else:
                on = float(link.predict_proba_one(x).get(True, 0.0)) >= 0.5
            if on:
                x[_chain_feature(label)] = 1.0

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        x = dict(x) if self._scaler is None else self._scaler.transform(x)
        probabilities = {}
        for label, link in self._links.items():
            p = float(link.predict_proba_one(x).get(True, 0.0))
            probabilities[label] = p
            if p >= 0.5:
                x[_chain_feature(label)] = 1.0
        return probabilities
