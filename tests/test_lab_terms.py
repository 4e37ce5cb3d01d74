"""The vae and dcgan notebooks use one Chinese term for each thing (read from the notebooks, no kernel)."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: a term a fresh tester found used beside the course's term -> the course's term
ONE_TERM = {"评论器": "评论家", "耗时": "用时"}


@pytest.mark.parametrize("lab", ["vae", "dcgan"])
def test_notebook_uses_one_chinese_term_each(lab):
    nb = json.loads((ROOT / "notebooks" / f"{lab}.ipynb").read_text())
    text = "\n".join("".join(cell["source"]) for cell in nb["cells"])
    for other, term in ONE_TERM.items():
        assert other not in text, f"{lab}: write {term}, not {other}"


@pytest.mark.parametrize("lab", ["vae", "dcgan"])
def test_notebook_writes_learning_rates_in_one_form(lab):
    """A rate is written as records.format_rate writes it (3e-3), in prose too: not $3\\cdot10^{-3}$, and no
    notebook formats rates with a function of its own."""
    nb = json.loads((ROOT / "notebooks" / f"{lab}.ipynb").read_text())
    text = "\n".join("".join(cell["source"]) for cell in nb["cells"])
    # a rate in its own formula ($3\cdot10^{-3}$, $10^{-2}$, $\eta = 10^{-3}$); a 10^{-12} inside a formula is not a rate
    assert not re.search(r"\$(\d\\cdot ?)?10\^\{-\d\}\$|(\\eta|\\mathrm\{lr\}) = [^$]*10\^", text), lab
    assert "def lr_label" not in text, lab
