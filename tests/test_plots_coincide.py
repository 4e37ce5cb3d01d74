"""labkit.curves: a run whose curves lie exactly on another run's stays visible and the legend says so
(issue 13: adam at its customary rate = adam at the shared rate, one curve hidden under the other)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import labkit  # noqa: E402
from labkit import i18n  # noqa: E402


def _run(name, losses):
    return labkit.History(name, [{"epoch": i + 1, "train_loss": v + 0.1, "test_loss": v, "train_acc": 1 - v,
                                  "test_acc": 1 - v} for i, v in enumerate(losses)])


def test_coinciding_run_is_marked_and_drawn_visibly():
    runs = {"sgd": _run("a", [0.9, 0.5, 0.4]), "adam": _run("b", [0.8, 0.3, 0.2]),
            "adam again": _run("c", [0.8, 0.3, 0.2]), "other": _run("d", [0.8, 0.3, 0.25])}
    try:
        for lang, word in (("en", "= Adam"), ("zh", "与 Adam 重合")):  # the run name through i18n.value_label
            i18n.set_language(lang)
            fig = labkit.curves(runs)
            texts = [text.get_text() for legend in fig.legends for text in legend.get_texts()] + \
                [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
            marked = [text for text in texts if word in text]
            assert marked and all(text.startswith("adam again") for text in marked), texts
            assert not any("other" in text and word in text for text in texts)  # differs at one epoch: not marked
            rings = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("adam again")]
            assert rings and all(line.get_marker() == "o" and line.get_markerfacecolor() == "none" for line in rings)
            plt.close(fig)
    finally:
        i18n.set_language("en")


def test_prefix_of_a_longer_run_counts_as_coinciding():
    from labkit.plots import _coinciding
    long, short = _run("l", [0.9, 0.5, 0.4]), _run("s", [0.9, 0.5])
    assert _coinciding({"3": long, "2": short}, ["train_loss", "test_loss"]) == {"2": "3"}
    assert _coinciding({"3": long, "x": _run("x", [0.9, 0.51])}, ["test_loss"]) == {}
