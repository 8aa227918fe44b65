"""iSOUP-Tree: a multi-target Hoeffding regression tree over the 0/1 label targets."""

from __future__ import annotations

import math

import numpy as np

from learners.base import DriftEvent, Features, Label, LabelDict, MultiLabelClassifier, as_label_dict

# Split evaluation sorts the leaf's observations feature by feature; features are taken in blocks
# whose (observations x features x targets) cumulative sums stay under this many numbers.
_SPLIT_BLOCK_ELEMENTS = 2_000_000


class _Leaf:
    """A leaf: target statistics, the observations since it was created and its linear models."""

    def __init__(self, depth, n_features, n_targets, capacity):
        self.depth = depth
        self.count = 0.0
        self.target_sum = np.zeros(n_targets)
        self.weights = np.zeros((n_features, n_targets))
        self.bias = np.zeros(n_targets)
        self.faded_error_mean = np.zeros(n_targets)
        self.faded_error_model = np.zeros(n_targets)
        self.x_buffer = np.zeros((min(capacity, 64), n_features))
        self.y_buffer = np.zeros((min(capacity, 64), n_targets))
        self.n_buffered = 0
        self.n_observed = 0  # since creation; drives the grace period and the reservoir
        self.observed_at_last_attempt = 0

    def fit_shapes(self, n_features, n_targets):
        """Grow the arrays for features and labels that appeared after this leaf was made."""
        extra_f = n_features - self.weights.shape[0]
        extra_t = n_targets - self.target_sum.shape[0]
        if extra_f > 0:
            self.weights = np.pad(self.weights, ((0, extra_f), (0, 0)))
            self.x_buffer = np.pad(self.x_buffer, ((0, 0), (0, extra_f)))
        if extra_t > 0:
            # A label that appears now was off in every earlier instance: its sums start at 0
            # while the instance count is kept, so its mean is over the whole leaf history.
            self.target_sum = np.pad(self.target_sum, (0, extra_t))
            self.weights = np.pad(self.weights, ((0, 0), (0, extra_t)))
            self.bias = np.pad(self.bias, (0, extra_t))
            self.faded_error_mean = np.pad(self.faded_error_mean, (0, extra_t))
            self.faded_error_model = np.pad(self.faded_error_model, (0, extra_t))
            self.y_buffer = np.pad(self.y_buffer, ((0, 0), (0, extra_t)))

    def buffer(self, x, y, capacity, rng):
        """Keep the observation; past ``capacity`` keep a uniform reservoir sample."""
        self.n_observed += 1
        if self.n_buffered < capacity:
            if self.n_buffered == self.x_buffer.shape[0]:
                grow = min(capacity, 2 * self.n_buffered) - self.n_buffered
                self.x_buffer = np.pad(self.x_buffer, ((0, grow), (0, 0)))
                self.y_buffer = np.pad(self.y_buffer, ((0, grow), (0, 0)))
            slot = self.n_buffered
            self.n_buffered += 1
        else:
            slot = int(rng.integers(self.n_observed))
            if slot >= capacity:
                return
        self.x_buffer[slot] = x
        self.y_buffer[slot] = y

    def predict(self, x_norm):
        """Per target: the mean or the linear model, whichever has the lower faded error."""
        n_features, n_targets = self.weights.shape
        mean = self.target_sum / self.count if self.count else np.zeros(n_targets)
        model = np.clip(x_norm[:n_features] @ self.weights + self.bias, 0.0, 1.0)
        return np.where(self.faded_error_mean < self.faded_error_model, mean, model)


class _Branch:
    def __init__(self, feature, threshold, left, right):
        self.feature = feature
        self.threshold = threshold
        self.left = left
        self.right = right


class ISOUPTree(MultiLabelClassifier):
    """iSOUP-Tree on the 0/1 label targets, thresholded at 0.5.

    Every label is a regression target with values 0 and 1. The tree grows like a Hoeffding
    tree: a leaf keeps the observations it has seen since it was made and, every
    ``grace_period`` of them, scores every binary split ``feature <= threshold`` by the
    intra-cluster variance reduction (the variance reduction averaged over the targets). It splits
    when the best split beats the second best (best split of another feature) by the Hoeffding
    bound on the merit ratio, or when the bound has shrunk below ``tau``. Each leaf is adaptive:
    per target it predicts the leaf mean or the output of a linear model trained by normalised
    least mean squares on standardised inputs, whichever had the lower exponentially faded squared
    error so far. The probability of a label is that prediction clipped to [0, 1].

    Departures from river's ``tree.ISOUPTreeRegressor``, which this otherwise follows:

    * A label that first appears mid-stream was off in every earlier instance. river starts the
      new target's statistics empty, so its leaf means are taken over the instances after it
      appeared and split merits mix counts of different targets. Here the new target starts with
      a sum of 0 over the leaf's whole count, and every buffered observation has it at 0.
    * Absent features are 0 (sparse input), both for learning and for routing an instance down
      the tree; river routes an instance that lacks the split feature down the most travelled
      branch and never tells its splitters about the zeros.
    * Split candidates are scored exactly on the leaf's buffered observations (the same merits
      an extended binary search tree gives, computed with vectorised cumulative sums) rather than
      through an E-BST per feature. Past ``max_leaf_samples`` observations the buffer becomes a
      uniform reservoir sample.
    * The linear leaf models use a normalised update, stable whatever the number of features.

    Parameters
    ----------
    grace_period
        Observations a leaf collects between split attempts.
    delta
        Confidence of the Hoeffding bound: allowed probability of a wrong split choice.
    tau
        Tie threshold: split anyway once the Hoeffding bound is below it.
    max_depth
        Depth at which leaves stop splitting; ``None`` for no limit.
    min_samples_split
        Fewest observations each side of a split candidate must have.
    learning_rate
        Step size of the normalised least-mean-squares update of the leaf models.
    model_selector_decay
        Fading factor of the squared errors used to choose between mean and model.
    max_leaf_samples
        Most observations a leaf keeps to score split candidates.
    seed
        Seed of the reservoir sampling in leaves that pass ``max_leaf_samples``.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> tree = ISOUPTree(grace_period=50, seed=1)
    >>> hits = 0
    >>> for i in range(600):
    ...     x = {"a": rng.random(), "b": rng.random()}
    ...     y = {"low": x["a"] < 0.5, "high": x["b"] > 0.7}
    ...     hits += tree.predict_one(x) == y
    ...     tree.learn_one(x, y)
    >>> hits > 400
    True

    References
    ----------
    .. [1] A. Osojnik, P. Panov and S. Džeroski, "Tree-based methods for online multi-target
       regression", Journal of Intelligent Information Systems 50(2), 315-339, 2018.
    .. [2] E. Ikonomovska, J. Gama and S. Džeroski, "Learning model trees from evolving data
       streams", Data Mining and Knowledge Discovery 23(1), 128-168, 2011.

    """

    _partial_labels_reason = "its split criterion and leaf regressors learn whole target vectors"

    def __init__(
        self,
        grace_period: int = 200,
        delta: float = 1e-7,
        tau: float = 0.05,
        max_depth: int | None = None,
        min_samples_split: int = 5,
        learning_rate: float = 0.3,
        model_selector_decay: float = 0.95,
        max_leaf_samples: int = 5000,
        seed: int | None = None,
    ):
        if grace_period < 1:
            raise ValueError(f"grace_period must be >= 1, got {grace_period}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if max_leaf_samples < 2 * min_samples_split:
            raise ValueError(
                f"max_leaf_samples ({max_leaf_samples}) must be at least twice "
                f"min_samples_split ({min_samples_split})"
            )
        self.grace_period = grace_period
        self.delta = delta
        self.tau = tau
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.learning_rate = learning_rate
        self.model_selector_decay = model_selector_decay
        self.max_leaf_samples = max_leaf_samples
        self.seed = seed
        self._reset()

    def _reset(self):
        self._features: dict = {}
        # Feature arrays are sized to a capacity that doubles, so that sparse streams, which bring
        # new features with most instances at first, do not copy every leaf for each one.
        self._capacity = 0
        self._labels: dict = {}
        self._n_seen = 0
        self._x_sum = np.zeros(0)
        self._x_sq_sum = np.zeros(0)
        self._root: _Leaf | _Branch = _Leaf(0, 0, 0, self.max_leaf_samples)
        self._n_splits = 0
        self._rng = np.random.default_rng(self.seed)

    @classmethod
    def _unit_test_params(cls):
        yield {"grace_period": 20, "seed": 1}

    @property
    def n_leaves(self) -> int:
        return self._n_splits + 1

    @property
    def height(self) -> int:
        """Number of branch levels above the deepest leaf."""
        deepest, stack = 0, [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if isinstance(node, _Branch):
                stack += [(node.left, depth + 1), (node.right, depth + 1)]
            else:
                deepest = max(deepest, depth)
        return deepest

    def _vector(self, x: Features, grow: bool) -> np.ndarray:
        if grow:
            for name in x:
                if name not in self._features:
                    self._features[name] = len(self._features)
            if len(self._features) > self._capacity:
                self._capacity = max(len(self._features), 2 * self._capacity)
        vector = np.zeros(self._capacity)
        index = self._features
        for name, value in x.items():
            column = index.get(name)
            if column is not None:
                vector[column] = value
        return vector

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        if not self._n_seen:
            return np.zeros_like(x)
        mean = self._x_sum / self._n_seen
        std = np.sqrt(np.maximum(self._x_sq_sum / self._n_seen - mean * mean, 0.0))
        return np.divide(x - mean, std, out=np.zeros_like(x), where=std > 1e-12)

    def _sort(self, x: np.ndarray):
        node, parent, path = self._root, None, "root"
        while isinstance(node, _Branch):
            parent = node
            goes_left = x[node.feature] <= node.threshold
            node = node.left if goes_left else node.right
            path += "/L" if goes_left else "/R"
        return node, parent, path

    def learn_one(self, x: Features, y: LabelDict) -> None:
        y = as_label_dict(y, known=self._labels)
        for label in y:
            if label not in self._labels:
                self._labels[label] = len(self._labels)
        x_vec = self._vector(x, grow=True)
        n_features, n_targets = self._capacity, len(self._labels)
        if n_features > self._x_sum.shape[0]:
            # Earlier instances had these features at 0: their sums stay correct when padded.
            extra = n_features - self._x_sum.shape[0]
            self._x_sum = np.pad(self._x_sum, (0, extra))
            self._x_sq_sum = np.pad(self._x_sq_sum, (0, extra))
        y_vec = np.zeros(n_targets)
        for label, on in y.items():
            if on:
                y_vec[self._labels[label]] = 1.0

        leaf, parent, path = self._sort(x_vec)
        leaf.fit_shapes(n_features, n_targets)

        # Score mean and model before learning from this instance: their faded errors are
        # prequential, so the selector compares honest errors.
        x_norm = self._standardise(x_vec)
        mean = leaf.target_sum / leaf.count if leaf.count else np.zeros(n_targets)
        model_raw = x_norm @ leaf.weights + leaf.bias
        decay = self.model_selector_decay
        leaf.faded_error_mean = decay * leaf.faded_error_mean + (y_vec - mean) ** 2
        leaf.faded_error_model = decay * leaf.faded_error_model + (y_vec - np.clip(model_raw, 0.0, 1.0)) ** 2
        step = self.learning_rate / (1.0 + x_norm @ x_norm)
        error = y_vec - model_raw
        leaf.weights += step * np.outer(x_norm, error)
        leaf.bias += step * error

        leaf.count += 1.0
        leaf.target_sum += y_vec
        leaf.buffer(x_vec, y_vec, self.max_leaf_samples, self._rng)

        self._n_seen += 1
        self._x_sum += x_vec
        self._x_sq_sum += x_vec * x_vec

        if (
            leaf.n_observed - leaf.observed_at_last_attempt >= self.grace_period
            and (self.max_depth is None or leaf.depth < self.max_depth)
        ):
            leaf.observed_at_last_attempt = leaf.n_observed
            self._attempt_split(leaf, parent, path)

    def predict_proba_one(self, x: Features) -> dict[Label, float]:
        if not self._labels:
            return {}
        x_vec = self._vector(x, grow=False)
        leaf, _, _ = self._sort(x_vec)
        proba = leaf.predict(self._standardise(x_vec))
        # Labels that appeared after this leaf last learned were off in all its instances.
        out = dict.fromkeys(self._labels, 0.0)
        for label, column in self._labels.items():
            if column < proba.shape[0]:
                out[label] = float(proba[column])
        return out

    def _attempt_split(self, leaf: _Leaf, parent: _Branch | None, path: str) -> None:
        n = leaf.n_buffered
        if n < 2 * self.min_samples_split:
            return
        candidates = self._best_split_per_feature(leaf.x_buffer[:n], leaf.y_buffer[:n])
        if not candidates:
            return
        candidates.sort()
        best_merit, feature, threshold = candidates[-1]
        if best_merit <= 0.0:
            return
        # The merit ratio lies in [0, 1], so the bound's range is 1.
        bound = math.sqrt(math.log(1.0 / self.delta) / (2.0 * n))
        second_merit = candidates[-2][0] if len(candidates) > 1 else 0.0
        if not (second_merit / best_merit < 1.0 - bound or bound < self.tau):
            return
        self._split(leaf, parent, feature, threshold)
        self._emit(
            DriftEvent(
                "isoupt",
                "local",
                "split",
                self._n_seen,
                node=path,
                detail={"feature": str(self._feature_name(feature)), "threshold": threshold, "merit": best_merit},
            )
        )

    def _feature_name(self, column: int):
        for name, index in self._features.items():
            if index == column:
                return name
        raise KeyError(column)

    def _best_split_per_feature(self, x: np.ndarray, y: np.ndarray) -> list[tuple[float, int, float]]:
        """(merit, feature, threshold) of the best split of every feature that varies."""
        n, n_targets = y.shape
        total = y.sum(axis=0)
        p = total / n
        variance_before = float(np.mean(p * (1.0 - p)))
        low, high = x.min(axis=0), x.max(axis=0)
        varying = low < high
        # Features with exactly two values (binary bag-of-words above all) have one candidate,
        # scored for all of them at once with a matrix product instead of a sort.
        two_valued = varying & np.all((x == low) | (x == high), axis=0)
        out = []

        features = np.flatnonzero(two_valued)
        if features.size:
            on_left = (x[:, features] == low[features]).astype(float)
            left_counts = on_left.sum(axis=0)
            left_sum = on_left.T @ y
            merit = self._merit(variance_before, n, total, left_counts[:, None], left_sum)
            merit = np.where(
                (left_counts >= self.min_samples_split) & (n - left_counts >= self.min_samples_split), merit, -np.inf
            )
            thresholds = 0.5 * (low[features] + high[features])
            for j in np.flatnonzero(np.isfinite(merit)):
                out.append((float(merit[j]), int(features[j]), float(thresholds[j])))

        features = np.flatnonzero(varying & ~two_valued)
        left_counts = np.arange(1, n)[:, None]  # split after sorted position k: k + 1 on the left
        allowed = (left_counts >= self.min_samples_split) & (n - left_counts >= self.min_samples_split)
        block = max(1, _SPLIT_BLOCK_ELEMENTS // (n * max(n_targets, 1)))
        for start in range(0, features.size, block):
            chunk = features[start : start + block]
            order = np.argsort(x[:, chunk], axis=0, kind="stable")
            values = np.take_along_axis(x[:, chunk], order, axis=0)
            left_sum = np.cumsum(y[order], axis=0)[:-1]  # (n-1, features, targets)
            merit = self._merit(variance_before, n, total, left_counts[:, :, None], left_sum)
            merit = np.where(allowed & (values[:-1] < values[1:]), merit, -np.inf)
            best_position = np.argmax(merit, axis=0)
            best_merit = merit[best_position, np.arange(chunk.size)]
            for j in np.flatnonzero(np.isfinite(best_merit)):
                k = best_position[j]
                threshold = 0.5 * (values[k, j] + values[k + 1, j])
                out.append((float(best_merit[j]), int(chunk[j]), float(threshold)))
        return out

    @staticmethod
    def _merit(variance_before, n, total, left_counts, left_sum):
        """Intra-cluster variance reduction for left sums of shape (..., targets)."""
        right_counts = n - left_counts
        p_left = np.divide(left_sum, left_counts, out=np.zeros_like(left_sum), where=left_counts > 0)
        p_right = np.divide(total - left_sum, right_counts, out=np.zeros_like(left_sum), where=right_counts > 0)
        variance_left = np.mean(p_left * (1.0 - p_left), axis=-1)
        variance_right = np.mean(p_right * (1.0 - p_right), axis=-1)
        counts_left, counts_right = left_counts[..., 0], right_counts[..., 0]
        return variance_before - (counts_left * variance_left + counts_right * variance_right) / n

    def _split(self, leaf: _Leaf, parent: _Branch | None, feature: int, threshold: float) -> None:
        n = leaf.n_buffered
        goes_left = leaf.x_buffer[:n, feature] <= threshold
        children = []
        for side in (goes_left, ~goes_left):
            child = _Leaf(leaf.depth + 1, *leaf.weights.shape, self.max_leaf_samples)
            child.count = float(side.sum())
            child.target_sum = leaf.y_buffer[:n][side].sum(axis=0)
            child.weights = leaf.weights.copy()
            child.bias = leaf.bias.copy()
            child.faded_error_mean = leaf.faded_error_mean.copy()
            child.faded_error_model = leaf.faded_error_model.copy()
            children.append(child)
        branch = _Branch(feature, threshold, *children)
        if parent is None:
            self._root = branch
        elif parent.left is leaf:
            parent.left = branch
        else:
            parent.right = branch
        self._n_splits += 1
