"""The numbers published with the iHOMER paper (ECAI 2025, released result tables), and the best baseline among them.

Prequential over the whole stream, file order; see /work/shared/docs/published-results.md. Keys are our
catalogue names. The paper's iHOMER column looks scored on a short tail window, so it is kept for
reference and never counted as a baseline.
"""

from __future__ import annotations

PUBLISHED = {
    "flags": {
        "mlhat": {"subset_accuracy": 0.0619, "micro_f1": 0.5857, "macro_f1": 0.5005, "hamming_loss": 0.3869},
        "br-ht": {"subset_accuracy": 0.1136, "micro_f1": 0.7099, "macro_f1": 0.5219, "hamming_loss": 0.2718},
        "br-efdt": {"subset_accuracy": 0.1136, "micro_f1": 0.7099, "macro_f1": 0.5219, "hamming_loss": 0.2718},
        "br-arf": {"subset_accuracy": 0.1238, "micro_f1": 0.7031, "macro_f1": 0.5463, "hamming_loss": 0.2858},
        "br-knn": {"subset_accuracy": 0.0723, "micro_f1": 0.6423, "macro_f1": 0.546, "hamming_loss": 0.3382},
        "br-abalr": {"subset_accuracy": 0.0258, "micro_f1": 0.5869, "macro_f1": 0.4836, "hamming_loss": 0.3861},
        "mlht": {"subset_accuracy": 0.129, "micro_f1": 0.6166, "macro_f1": 0.4071, "hamming_loss": 0.3462},
        "mlht-ps": {"subset_accuracy": 0.0259, "micro_f1": 0.6304, "macro_f1": 0.3878, "hamming_loss": 0.3389},
        "isoupt": {"subset_accuracy": 0.0206, "micro_f1": 0.5751, "macro_f1": 0.4794, "hamming_loss": 0.4001},
        "ihomer": {"subset_accuracy": 0.0694, "micro_f1": 0.6419, "macro_f1": 0.5273, "hamming_loss": 0.3343},
    },
    "water-quality": {
        "mlhat": {"subset_accuracy": 0.0188, "micro_f1": 0.5512, "macro_f1": 0.5142, "hamming_loss": 0.3195},
        "br-ht": {"subset_accuracy": 0.0019, "micro_f1": 0.4203, "macro_f1": 0.2501, "hamming_loss": 0.3269},
        "br-efdt": {"subset_accuracy": 0.0056, "micro_f1": 0.4588, "macro_f1": 0.302, "hamming_loss": 0.3207},
        "br-arf": {"subset_accuracy": 0.0207, "micro_f1": 0.5334, "macro_f1": 0.4433, "hamming_loss": 0.2908},
        "br-knn": {"subset_accuracy": 0.0197, "micro_f1": 0.5605, "macro_f1": 0.5112, "hamming_loss": 0.2995},
        "br-abalr": {"subset_accuracy": 0.0197, "micro_f1": 0.5492, "macro_f1": 0.5115, "hamming_loss": 0.3187},
        "mlht": {"subset_accuracy": 0.0085, "micro_f1": 0.2576, "macro_f1": 0.1714, "hamming_loss": 0.3947},
        "mlht-ps": {"subset_accuracy": 0.0038, "micro_f1": 0.3825, "macro_f1": 0.2027, "hamming_loss": 0.3414},
        "isoupt": {"subset_accuracy": 0.0207, "micro_f1": 0.5472, "macro_f1": 0.5132, "hamming_loss": 0.3246},
        "ihomer": {"subset_accuracy": 0.022, "micro_f1": 0.5466, "macro_f1": 0.5033, "hamming_loss": 0.3107},
    },
    "emotions": {
        "mlhat": {"subset_accuracy": 0.1361, "micro_f1": 0.4446, "macro_f1": 0.4299, "hamming_loss": 0.3392},
        "br-ht": {"subset_accuracy": 0.1949, "micro_f1": 0.5731, "macro_f1": 0.4631, "hamming_loss": 0.2454},
        "br-efdt": {"subset_accuracy": 0.1815, "micro_f1": 0.5455, "macro_f1": 0.4778, "hamming_loss": 0.2493},
        "br-arf": {"subset_accuracy": 0.1899, "micro_f1": 0.5467, "macro_f1": 0.5063, "hamming_loss": 0.2311},
        "br-knn": {"subset_accuracy": 0.1513, "micro_f1": 0.4842, "macro_f1": 0.458, "hamming_loss": 0.2897},
        "br-abalr": {"subset_accuracy": 0.0622, "micro_f1": 0.2996, "macro_f1": 0.2876, "hamming_loss": 0.411},
        "mlht": {"subset_accuracy": 0.1244, "micro_f1": 0.3417, "macro_f1": 0.3158, "hamming_loss": 0.4115},
        "mlht-ps": {"subset_accuracy": 0.2219, "micro_f1": 0.5374, "macro_f1": 0.5263, "hamming_loss": 0.2639},
        "isoupt": {"subset_accuracy": 0.0588, "micro_f1": 0.3187, "macro_f1": 0.306, "hamming_loss": 0.4233},
        "ihomer": {"subset_accuracy": 0.1603, "micro_f1": 0.4634, "macro_f1": 0.4454, "hamming_loss": 0.3119},
    },
    "yeast": {
        "mlhat": {"subset_accuracy": 0.1314, "micro_f1": 0.5976, "macro_f1": 0.3721, "hamming_loss": 0.227},
        "br-ht": {"subset_accuracy": 0.0721, "micro_f1": 0.5992, "macro_f1": 0.2879, "hamming_loss": 0.2175},
        "br-efdt": {"subset_accuracy": 0.0572, "micro_f1": 0.5885, "macro_f1": 0.2781, "hamming_loss": 0.2181},
        "br-arf": {"subset_accuracy": 0.0708, "micro_f1": 0.5738, "macro_f1": 0.2702, "hamming_loss": 0.2162},
        "br-knn": {"subset_accuracy": 0.145, "micro_f1": 0.5905, "macro_f1": 0.3592, "hamming_loss": 0.2267},
        "br-abalr": {"subset_accuracy": 0.0152, "micro_f1": 0.4864, "macro_f1": 0.1374, "hamming_loss": 0.229},
        "mlht": {"subset_accuracy": 0.089, "micro_f1": 0.536, "macro_f1": 0.2201, "hamming_loss": 0.2696},
        "mlht-ps": {"subset_accuracy": 0.1853, "micro_f1": 0.5828, "macro_f1": 0.4037, "hamming_loss": 0.2405},
        "isoupt": {"subset_accuracy": 0.035, "micro_f1": 0.5026, "macro_f1": 0.1628, "hamming_loss": 0.2248},
        "ihomer": {"subset_accuracy": 0.1417, "micro_f1": 0.608, "macro_f1": 0.3642, "hamming_loss": 0.2212},
    },
    "scene": {
        "mlhat": {"subset_accuracy": 0.8867, "micro_f1": 0.9364, "macro_f1": 0.9406, "hamming_loss": 0.0207},
        "br-ht": {"subset_accuracy": 0.2994, "micro_f1": 0.5016, "macro_f1": 0.4452, "hamming_loss": 0.158},
        "br-efdt": {"subset_accuracy": 0.5736, "micro_f1": 0.7151, "macro_f1": 0.7045, "hamming_loss": 0.0901},
        "br-arf": {"subset_accuracy": 0.7362, "micro_f1": 0.8174, "macro_f1": 0.8181, "hamming_loss": 0.0609},
        "br-knn": {"subset_accuracy": 0.7622, "micro_f1": 0.8027, "macro_f1": 0.8069, "hamming_loss": 0.0671},
        "br-abalr": {"subset_accuracy": 0.8668, "micro_f1": 0.9052, "macro_f1": 0.9074, "hamming_loss": 0.0309},
        "mlht": {"subset_accuracy": 0.1658, "micro_f1": 0.1869, "macro_f1": 0.0804, "hamming_loss": 0.2794},
        "mlht-ps": {"subset_accuracy": 0.5223, "micro_f1": 0.6036, "macro_f1": 0.5827, "hamming_loss": 0.151},
        "isoupt": {"subset_accuracy": 0.8333, "micro_f1": 0.8789, "macro_f1": 0.8805, "hamming_loss": 0.0396},
        "ihomer": {"subset_accuracy": 0.9825, "micro_f1": 0.9913, "macro_f1": 0.1667, "hamming_loss": 0.0029},
    },
    "medical": {
        "mlhat": {"subset_accuracy": 0.435, "micro_f1": 0.5842, "macro_f1": 0.2297, "hamming_loss": 0.0218},
        "br-ht": {"subset_accuracy": 0.3005, "micro_f1": 0.5201, "macro_f1": 0.1111, "hamming_loss": 0.0203},
        "br-efdt": {"subset_accuracy": 0.4289, "micro_f1": 0.6361, "macro_f1": 0.203, "hamming_loss": 0.0173},
        "br-arf": {"subset_accuracy": 0.0937, "micro_f1": 0.217, "macro_f1": 0.0309, "hamming_loss": 0.025},
        "br-knn": {"subset_accuracy": 0.328, "micro_f1": 0.5016, "macro_f1": 0.1067, "hamming_loss": 0.0219},
        "br-abalr": {"subset_accuracy": 0.0825, "micro_f1": 0.2149, "macro_f1": 0.0165, "hamming_loss": 0.025},
        "mlht": {"subset_accuracy": 0.1568, "micro_f1": 0.2404, "macro_f1": 0.0094, "hamming_loss": 0.0377},
        "mlht-ps": {"subset_accuracy": 0.002, "micro_f1": 0.0032, "macro_f1": 0.0003, "hamming_loss": 0.0276},
        "isoupt": {"subset_accuracy": 0.1518, "micro_f1": 0.3241, "macro_f1": 0.0284, "hamming_loss": 0.0232},
        "ihomer": {"subset_accuracy": 0.4504, "micro_f1": 0.6267, "macro_f1": 0.1971, "hamming_loss": 0.0187},
    },
    "enron": {
        "mlhat": {"subset_accuracy": 0.0907, "micro_f1": 0.4359, "macro_f1": 0.1767, "hamming_loss": 0.064},
        "br-ht": {"subset_accuracy": 0.0901, "micro_f1": 0.4293, "macro_f1": 0.0523, "hamming_loss": 0.0556},
        "br-efdt": {"subset_accuracy": 0.0719, "micro_f1": 0.4425, "macro_f1": 0.0897, "hamming_loss": 0.0585},
        "br-arf": {"subset_accuracy": 0.076, "micro_f1": 0.448, "macro_f1": 0.0778, "hamming_loss": 0.0531},
        "br-knn": {"subset_accuracy": 0.1053, "micro_f1": 0.3743, "macro_f1": 0.1601, "hamming_loss": 0.0591},
        "br-abalr": {"subset_accuracy": 0.0994, "micro_f1": 0.5098, "macro_f1": 0.0877, "hamming_loss": 0.0482},
        "mlht": {"subset_accuracy": 0.1123, "micro_f1": 0.2971, "macro_f1": 0.0332, "hamming_loss": 0.0689},
        "mlht-ps": {"subset_accuracy": 0.0614, "micro_f1": 0.2759, "macro_f1": 0.0284, "hamming_loss": 0.0605},
        "isoupt": {"subset_accuracy": 0.0948, "micro_f1": 0.5003, "macro_f1": 0.0856, "hamming_loss": 0.0488},
        "ihomer": {"subset_accuracy": 0.0487, "micro_f1": 0.395, "macro_f1": 0.1529, "hamming_loss": 0.0651},
    },
    "bibtex": {
        "mlhat": {"subset_accuracy": 0.1225, "micro_f1": 0.3472, "macro_f1": 0.225, "hamming_loss": 0.0153},
        "br-ht": {"subset_accuracy": 0.053, "micro_f1": 0.2164, "macro_f1": 0.0925, "hamming_loss": 0.0154},
        "br-efdt": {"subset_accuracy": 0.0357, "micro_f1": 0.2181, "macro_f1": 0.1049, "hamming_loss": 0.02},
        "br-arf": {"subset_accuracy": 0.046, "micro_f1": 0.1539, "macro_f1": 0.0208, "hamming_loss": 0.0138},
        "br-knn": {"subset_accuracy": 0.0027, "micro_f1": 0.0302, "macro_f1": 0.0082, "hamming_loss": 0.0152},
        "br-abalr": {"subset_accuracy": 0.0588, "micro_f1": 0.1822, "macro_f1": 0.0316, "hamming_loss": 0.0136},
        "mlht": {"subset_accuracy": 0.063, "micro_f1": 0.0412, "macro_f1": 0.0011, "hamming_loss": 0.0204},
        "mlht-ps": {"subset_accuracy": 0.0435, "micro_f1": 0.0897, "macro_f1": 0.0098, "hamming_loss": 0.0176},
        "isoupt": {"subset_accuracy": 0.0667, "micro_f1": 0.1961, "macro_f1": 0.0348, "hamming_loss": 0.0135},
        "ihomer": {"subset_accuracy": 0.1216, "micro_f1": 0.3457, "macro_f1": 0.2123, "hamming_loss": 0.0146},
    },
    "tmc2007": {
        "mlhat": {"subset_accuracy": 0.2381, "micro_f1": 0.6379, "macro_f1": 0.5228, "hamming_loss": 0.0697},
        "br-ht": {"subset_accuracy": 0.152, "micro_f1": 0.5287, "macro_f1": 0.3265, "hamming_loss": 0.0799},
        "br-efdt": {"subset_accuracy": 0.0958, "micro_f1": 0.4631, "macro_f1": 0.2977, "hamming_loss": 0.0908},
        "br-arf": {"subset_accuracy": 0.1575, "micro_f1": 0.5159, "macro_f1": 0.2024, "hamming_loss": 0.076},
        "br-knn": {"subset_accuracy": 0.1335, "micro_f1": 0.4866, "macro_f1": 0.1842, "hamming_loss": 0.0836},
        "br-abalr": {"subset_accuracy": 0.2474, "micro_f1": 0.6293, "macro_f1": 0.3807, "hamming_loss": 0.0637},
        "mlht": {"subset_accuracy": 0.0861, "micro_f1": 0.1974, "macro_f1": 0.023, "hamming_loss": 0.1167},
        "mlht-ps": {"subset_accuracy": 0.1546, "micro_f1": 0.4387, "macro_f1": 0.166, "hamming_loss": 0.0843},
        "isoupt": {"subset_accuracy": 0.2299, "micro_f1": 0.6074, "macro_f1": 0.2722, "hamming_loss": 0.0658},
        "ihomer": {"subset_accuracy": 0.2455, "micro_f1": 0.6485, "macro_f1": 0.538, "hamming_loss": 0.0681},
    },
}


def best_baseline(dataset: str, metric: str, bigger_is_better: bool = True) -> tuple[str, float] | None:
    """The paper's best baseline (every published learner but iHOMER) on ``dataset`` in ``metric``.

    >>> best_baseline("emotions", "subset_accuracy")
    ('mlht-ps', 0.2219)
    >>> best_baseline("no-such-dataset", "micro_f1") is None
    True
    """
    scores = {learner: values[metric] for learner, values in PUBLISHED.get(dataset, {}).items() if learner != "ihomer"}
    if not scores:
        return None
    best = (max if bigger_is_better else min)(scores, key=scores.get)
    return best, scores[best]
