"""The counts behind every multi-label metric, kept one instance at a time.

One :class:`MultiLabelConfusion` holds everything the example-based and label-based metrics need,
so a whole report costs one pass over each instance's labels. Per update, the Python-level work is
proportional to the number of labels that are on (in the truth or the prediction); picking those
labels out and counting the universe of labels run in C. Scores are computed only when asked for,
over arrays of the per-label counts. :meth:`MultiLabelConfusion.add_many` counts a micro-batch at
once (the per-instance counts as arrays, each label count in one pass) and gives exactly the
numbers of adding its instances one by one.

Conventions (shared by every metric in :mod:`learners.metrics`):

* A label missing from ``y_true`` or ``y_pred`` counts as ``False``.
* The label universe is the union of the keys of every ``y_true`` and ``y_pred`` counted so far
  (for a windowed confusion: counted in the window). A label that appears mid-stream is therefore
  counted as correctly absent on the earlier instances once it is in the universe: the Hamming
  loss is divided by ``n * |universe at the time of get()|`` and equals scikit-learn's
  ``hamming_loss`` over the indicator matrix of all labels seen.
* Example-based scores of an instance whose truth and prediction are both empty are 1 (nothing to
  find, nothing wrongly predicted). Otherwise an undefined ratio counts as 0: an empty prediction
  has precision 0 when labels were on, an empty truth gives recall 0 when labels were predicted.
* Label-based ratios (micro and macro precision, recall, F1) with a zero denominator count as 0,
  scikit-learn's ``zero_division=0``: a label that was never on and never predicted has F1 0 and
  still counts in the cumulative macro average over the universe.
* A windowed confusion's macro averages skip the labels *absent from the window*: those neither on
  in the truth nor predicted on by any instance of the window (no true positive, false positive or
  false negative in it). A dormant label, correctly left off, no longer drags the windowed macro
  scores down; a label the learner keeps predicting while it is never on (false positives only),
  or one that is on but never predicted (false negatives only), still counts with its 0. With every
  label absent (only empty truths and predictions in the window) the macro scores are 0.
* Every score of an empty confusion (no instance yet) is 0.

"""

from __future__ import annotations

import collections
import itertools
import typing

import numpy as np

Observation = tuple[frozenset, frozenset, tuple]
"""One scored instance: (labels on in the truth, labels predicted on, the keys of both dicts).

The keys are kept in order, and a label in both dicts is listed twice: the universe counts
mentions, and keeping the order makes it list labels in the order they were first seen.
"""


def observe(y_true: typing.Mapping, y_pred: typing.Mapping) -> Observation:
    """Reduce a ``(y_true, y_pred)`` pair of ``dict[label, bool]`` to what the counts need.

    Examples
    --------
    >>> true_on, pred_on, labels = observe({"a": True, "b": False}, {"b": True, "c": False})
    >>> sorted(true_on), sorted(pred_on), labels
    (['a'], ['b'], ('a', 'b', 'b', 'c'))

    """
    try:
        true_on = frozenset(itertools.compress(y_true, y_true.values()))
        pred_on = frozenset(itertools.compress(y_pred, y_pred.values()))
    except AttributeError:
        bad = "y_true" if not hasattr(y_true, "items") else "y_pred"
        value = y_true if bad == "y_true" else y_pred
        raise TypeError(f"{bad} must be a dict of label -> bool, got {type(value).__name__}") from None
    return true_on, pred_on, (*y_true, *y_pred)


class _MentionCounter:
    """How many times each label was mentioned, counting runs of identical key tuples at once.

    Consecutive instances almost always carry the same keys (every label of the dataset, every
    label the learner knows), so a run costs one C-level tuple comparison per instance and one
    count per label when it ends.
    """

    def __init__(self):
        self._counts: collections.Counter = collections.Counter()
        self._run_keys: tuple = ()
        self._run_length = 0

    def add(self, keys: tuple) -> tuple:
        """Count ``keys``; return the equal tuple of the current run, which callers may keep instead."""
        if keys == self._run_keys:
            self._run_length += 1
            return self._run_keys
        self._flush()
        self._run_keys = keys
        self._run_length = 1
        return keys

    def _flush(self) -> None:
        if self._run_length == 1:
            self._counts.update(self._run_keys)
        elif self._run_length > 1:
            counts, length = self._counts, self._run_length
            for label in self._run_keys:
                counts[label] += length
        self._run_length = 0

    def counts(self) -> collections.Counter:
        self._flush()
        self._run_keys = ()
        return self._counts


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


class MultiLabelConfusion:
    """Example-based, micro and per-label counts of a multi-label stream.

    Parameters
    ----------
    window
        Keep only the last ``window`` instances: each update beyond that forgets the oldest one.
        ``None`` keeps everything.

    Examples
    --------
    >>> cm = MultiLabelConfusion()
    >>> cm.update({"a": True, "b": False}, {"a": True, "b": True})
    >>> cm.update({"a": False, "b": True}, {"a": False, "b": True})
    >>> cm.subset_accuracy(), cm.hamming_loss(), cm.micro_f1()
    (0.5, 0.25, 0.8)
    >>> cm.per_label_f1()
    {'a': 1.0, 'b': 0.6666666666666666}

    """

    def __init__(self, window: int | None = None):
        if window is not None and window < 1:
            raise ValueError(f"window must be a positive number of instances or None, got {window!r}")
        self.window = window
        self._reset()

    def _reset(self):
        self.n = 0
        self.exact_matches = 0
        self.mismatches = 0  # label-level errors (false positives + false negatives), all instances
        self.tp = self.fp = self.fn = 0
        self._shapes: dict[tuple[int, int, int], int] = {}  # (tp, fp, fn) of an instance -> instances
        self.label_tp: collections.Counter = collections.Counter()
        self.label_fp: collections.Counter = collections.Counter()
        self.label_fn: collections.Counter = collections.Counter()
        # Two counters instead of one with decrements, so that forgetting also runs in C.
        self._mentioned = _MentionCounter()
        self._forgotten = _MentionCounter()
        self._recent: collections.deque[Observation] = collections.deque()

    def update(self, y_true: typing.Mapping, y_pred: typing.Mapping) -> None:
        """Count one instance."""
        self.add(observe(y_true, y_pred))

    def revert(self, y_true: typing.Mapping, y_pred: typing.Mapping) -> None:
        """Undo :meth:`update` of the same pair (cumulative confusions only)."""
        if self.window is not None:
            raise NotImplementedError("a windowed confusion forgets old instances by itself; revert it only without a window")
        self._apply(observe(y_true, y_pred), -1)

    def add(self, observation: Observation) -> None:
        """Count an :func:`observe` result (lets a suite observe once and feed several confusions)."""
        labels = self._apply(observation, 1)
        if self.window is not None:
            # Keeping the run's tuple rather than an equal copy per instance keeps a window of
            # instances with many labels small.
            self._recent.append((observation[0], observation[1], labels))
            if len(self._recent) > self.window:
                self._apply(self._recent.popleft(), -1)

    def add_many(self, observations: typing.Sequence[Observation]) -> None:
        """Count a micro-batch of :func:`observe` results: the same counts as :meth:`add` on each
        in turn, in one pass (instance counts as arrays, each label counter updated once).

        >>> one, many = MultiLabelConfusion(window=2), MultiLabelConfusion(window=2)
        >>> batch = [observe({"a": True}, {"a": True, "b": True}), observe({"b": True}, {}), observe({}, {})]
        >>> for observation in batch:
        ...     one.add(observation)
        >>> many.add_many(batch)
        >>> many.scores() == one.scores(), many.labels == one.labels
        (True, True)
        """
        if not observations:
            return
        true_on = [observation[0] for observation in observations]
        pred_on = [observation[1] for observation in observations]
        hits = list(map(frozenset.intersection, true_on, pred_on))
        tp = np.fromiter(map(len, hits), np.int64, len(hits))
        fp = np.fromiter(map(len, pred_on), np.int64, len(hits)) - tp
        fn = np.fromiter(map(len, true_on), np.int64, len(hits)) - tp
        self.n += len(hits)
        self.tp += int(tp.sum())
        self.fp += int(fp.sum())
        self.fn += int(fn.sum())
        wrong = fp + fn
        self.mismatches += int(wrong.sum())
        self.exact_matches += int(np.count_nonzero(wrong == 0))
        shapes, counts = np.unique(np.stack([tp, fp, fn], axis=1), axis=0, return_counts=True)
        for shape, count in zip(map(tuple, shapes.tolist()), counts.tolist()):
            self._shapes[shape] = self._shapes.get(shape, 0) + count
        self.label_tp.update(itertools.chain.from_iterable(hits))
        self.label_fp.update(itertools.chain.from_iterable(map(frozenset.difference, pred_on, true_on)))
        self.label_fn.update(itertools.chain.from_iterable(map(frozenset.difference, true_on, pred_on)))
        keys = [self._mentioned.add(observation[2]) for observation in observations]
        if self.window is not None:
            self._recent.extend(zip(true_on, pred_on, keys))
            while len(self._recent) > self.window:
                self._apply(self._recent.popleft(), -1)

    def _apply(self, observation: Observation, sign: int) -> tuple:
        true_on, pred_on, labels = observation
        hits = true_on & pred_on
        tp = len(hits)
        fp = len(pred_on) - tp
        fn = len(true_on) - tp
        self.n += sign
        self.tp += sign * tp
        self.fp += sign * fp
        self.fn += sign * fn
        self.mismatches += sign * (fp + fn)
        if not (fp or fn):
            self.exact_matches += sign
        # Example-based scores depend only on (tp, fp, fn): counting those integer triples keeps
        # the means exact under revert, where running float sums would drift.
        shape = (tp, fp, fn)
        count = self._shapes.get(shape, 0) + sign
        if count:
            self._shapes[shape] = count
        else:
            del self._shapes[shape]
        if sign > 0:
            labels = self._mentioned.add(labels)
            if hits:
                self.label_tp.update(hits)
            if fp:
                self.label_fp.update(pred_on - true_on)
            if fn:
                self.label_fn.update(true_on - pred_on)
        else:
            self._forgotten.add(labels)
            for counts, gone in ((self.label_tp, hits), (self.label_fp, pred_on - true_on), (self.label_fn, true_on - pred_on)):
                for label in gone:
                    counts[label] -= 1
                    if not counts[label]:
                        del counts[label]
        return labels

    @property
    def labels(self) -> list:
        """The label universe: every label mentioned by an instance still counted, in first-seen order."""
        mentioned = self._mentioned.counts()
        forgotten = self._forgotten.counts()
        if not forgotten:
            return list(mentioned)
        return [label for label, count in mentioned.items() if count > forgotten.get(label, 0)]

    # Example-based scores: the mean over instances of a per-instance score.

    def subset_accuracy(self) -> float:
        return _ratio(self.exact_matches, self.n)

    def hamming_loss(self) -> float:
        return _ratio(self.mismatches, self.n * len(self.labels))

    def example_based(self) -> tuple[float, float, float, float]:
        """Mean per-instance (precision, recall, F1, Jaccard)."""
        if not self.n:
            return 0.0, 0.0, 0.0, 0.0
        precision = recall = f1 = jaccard = 0.0
        # In a fixed order: the same sums however the shapes were counted (one by one or in batches).
        for (tp, fp, fn), count in sorted(self._shapes.items()):
            if tp + fp + fn == 0:
                precision += count
                recall += count
                f1 += count
                jaccard += count
                continue
            if tp:
                precision += count * tp / (tp + fp)
                recall += count * tp / (tp + fn)
                f1 += count * 2 * tp / (2 * tp + fp + fn)
                jaccard += count * tp / (tp + fp + fn)
        return precision / self.n, recall / self.n, f1 / self.n, jaccard / self.n

    def example_precision(self) -> float:
        return self.example_based()[0]

    def example_recall(self) -> float:
        return self.example_based()[1]

    def example_f1(self) -> float:
        return self.example_based()[2]

    def example_jaccard(self) -> float:
        return self.example_based()[3]

    # Label-based scores: micro pools the counts of all labels, macro averages per-label scores.

    def micro_precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    def micro_recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    def micro_f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def _label_scores(self, labels: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precision, recall and F1 of each of ``labels``, as arrays (0 where undefined)."""
        size = len(labels)
        zeros = itertools.repeat(0)
        tp = np.fromiter(map(self.label_tp.get, labels, zeros), float, size)
        fp = np.fromiter(map(self.label_fp.get, labels, zeros), float, size)
        fn = np.fromiter(map(self.label_fn.get, labels, zeros), float, size)

        def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
            return np.divide(numerator, denominator, out=np.zeros(size), where=denominator > 0)

        return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)

    def per_label(self) -> dict:
        """``{label: (precision, recall, f1)}`` over the label universe."""
        labels = self.labels
        precision, recall, f1 = self._label_scores(labels)
        return dict(zip(labels, zip(precision.tolist(), recall.tolist(), f1.tolist())))

    def per_label_f1(self) -> dict:
        labels = self.labels
        return dict(zip(labels, self._label_scores(labels)[2].tolist()))

    def present_labels(self) -> list:
        """Labels on in the truth or the prediction of at least one counted instance, in first-seen order."""
        tps, fps, fns = self.label_tp, self.label_fp, self.label_fn
        return [label for label in self.labels if label in tps or label in fps or label in fns]

    def macro(self) -> tuple[float, float, float]:
        """Macro-averaged (precision, recall, F1): over the label universe, or with a window over
        the labels present in it (:meth:`present_labels`; see the module's conventions).

        >>> window = MultiLabelConfusion(window=2)
        >>> for truth in ({"a": True, "b": True}, {"a": True, "b": False}, {"a": True, "b": False}):
        ...     window.update(truth, {"a": True, "b": False})
        >>> window.present_labels(), window.macro()[2]
        (['a'], 1.0)

        """
        labels = self.present_labels() if self.window is not None else self.labels
        if not labels:
            return 0.0, 0.0, 0.0
        # Summed in label order, one by one (as Python's sum does): the same float whatever batches counted them.
        return tuple(sum(scores.tolist()) / len(labels) for scores in self._label_scores(labels))

    def scores(self) -> dict[str, float]:
        """Every scalar score by name (the names of :data:`learners.metrics.SCORES`)."""
        macro_precision, macro_recall, macro_f1 = self.macro()
        example_precision, example_recall, example_f1, example_jaccard = self.example_based()
        return {
            "subset_accuracy": self.subset_accuracy(),
            "hamming_loss": self.hamming_loss(),
            "example_precision": example_precision,
            "example_recall": example_recall,
            "example_f1": example_f1,
            "example_jaccard": example_jaccard,
            "micro_precision": self.micro_precision(),
            "micro_recall": self.micro_recall(),
            "micro_f1": self.micro_f1(),
            "macro_precision": macro_precision,
            "macro_recall": macro_recall,
            "macro_f1": macro_f1,
        }
