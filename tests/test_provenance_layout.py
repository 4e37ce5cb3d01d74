"""The provenance appendix stays short: a long parameter table is printed in two column groups,
and the loads of one dataset are merged into one row with each split's range and the count."""
from __future__ import annotations

from labkit.report import provenance


def _rows(markdown: str, heading: str) -> list[str]:
    block = markdown.split(heading, 1)[1].split("###", 1)[0]
    return [line for line in block.splitlines() if line.startswith("|")]


def test_long_parameter_table_is_two_groups_side_by_side():
    params = {f"p{i:02d}": i for i in range(25)}
    text = provenance.section_markdown({"parameters": params, "overridden": ["p24"]}, "en")
    rows = _rows(text, "### Parameters")
    assert rows[0] == "| Parameter | Value | Set by | Parameter | Value | Set by |"
    assert len(rows) == 2 + 13  # header, rule, ceil(25 / 2) rows
    assert rows[2].startswith("| `p00` | `0` | default | `p13` | `13` | default |")
    assert rows[12].startswith("| `p10` | `10` | default | `p23` |")
    assert rows[-2] == "| `p11` | `11` | default | `p24` | `24` | override |"
    assert rows[-1] == "| `p12` | `12` | default |  |  |  |"  # the right group is one row shorter
    assert all(f"`p{i:02d}`" in text for i in range(25))
    short = provenance.section_markdown({"parameters": {"a": 1, "b": 2}}, "en")
    assert _rows(short, "### Parameters")[0] == "| Parameter | Value | Set by |"


def test_long_values_get_rows_of_their_own_after_the_side_by_side_table():
    params = {f"p{i:02d}": i for i in range(14)}
    params["optimizer_lrs"] = {"sgd": 0.05, "adam": 0.005, "adadelta": 1.0}
    text = provenance.section_markdown({"parameters": params}, "en")
    rows = _rows(text, "### Parameters")
    tables = text.split("### Parameters", 1)[1].split("###", 1)[0].strip().split("\n\n")
    assert len(tables) == 2 and tables[0].count("`p") == 14 and "optimizer_lrs" not in tables[0]
    assert tables[1].splitlines()[0] == "| Parameter | Value | Set by |"
    assert '| `optimizer_lrs` | `{"sgd": 0.05, "adam": 0.005, "adadelta": 1.0}` | default |' in rows


def test_side_by_side_pads_the_last_group():
    header, rows = provenance.side_by_side(("k", "v"), [("a", "1"), ("b", "2"), ("c", "3")], 2)
    assert header == ("k", "v", "k", "v") and rows == [("a", "1", "c", "3"), ("b", "2", "", "")]
    assert provenance.side_by_side(("k",), [], 3) == (("k", "k", "k"), [])


def test_repeated_dataset_loads_are_one_row_with_a_count():
    mnist = {"name": "mnist", "title": "MNIST", "source": "full", "checksum": "verified", "path": "/d/MNIST"}
    loads = [dict(mnist, sizes={"train": n, "test": m}) for n, m in ((1500, 500), (250, 500), (2000, 10000))]
    fashion = dict(mnist, name="fashion_mnist", title="Fashion-MNIST", path="/d/FashionMNIST",
                   sizes={"train": 320, "test": 500})
    text = provenance.section_markdown({"datasets": [*loads, fashion, loads[0]]}, "zh")
    rows = _rows(text, "### 数据集")[2:]
    assert len(rows) == 2
    assert rows[0].startswith("| MNIST | 训练 250–2000 · 测试 500–10000 (×4) |")
    assert rows[1].startswith("| Fashion-MNIST | 训练 320 · 测试 500 |") and "×" not in rows[1]
