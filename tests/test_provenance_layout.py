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
    assert rows[0].startswith("| MNIST 手写数字 | 4 次加载：训练 250、1,500 和 2,000，测试 500 和 10,000 |")
    assert rows[1].startswith("| Fashion-MNIST 服装图像 | 训练 320，测试 500 |") and "加载" not in rows[1]
    english = _rows(provenance.section_markdown({"datasets": [loads[0], loads[0]]}, "en"), "### Datasets")
    assert english[2].startswith("| MNIST | train 1,500, test 500 (loaded 2 times) |")


def test_text_dataset_row_says_what_was_read_and_what_was_used():
    """seq2seq's row said "句对 8000" (the lines read), not the train/test split the lab used."""
    pairs = {"name": "eng-fra", "title": "English–French sentence pairs (Tatoeba)", "source": "full",
             "checksum": "sha256", "path": "/d/eng-fra/eng-fra.txt"}
    prov = {"datasets": [dict(pairs, sizes={"pairs": 8000}), dict(pairs, use={"train": 300, "test": 63})],
            "device": "CPU (cpu)", "threads": {"threads": 1, "cores": 2, "mode": "auto", "wait_policy": "default"}}
    zh = provenance.section_markdown(prov, "zh")
    assert "| 英法句对 (Tatoeba) | 读取 8,000 个句对；使用：训练 300，测试 63 |" in zh
    assert "| 使用的设备 | CPU |" in zh and "2 个核心中使用 1 个（策略：自动；OMP_WAIT_POLICY：默认）" in zh
    en = provenance.section_markdown(prov, "en")
    assert "| English–French sentence pairs (Tatoeba) | 8,000 sentence pairs read; used: train 300, test 63 |" in en


def test_make_dataset_records_the_pairs_it_uses(monkeypatch):
    """The row says what was trained on: the split after the notebook's cap (train_pairs[:300]), not before."""
    from labkit import seq2seq
    from labkit.data import text

    from test_seq2seq import Vocab

    shown = []
    monkeypatch.setattr(text, "emit", lambda mime, info, line: shown.append((info, line)))
    monkeypatch.setattr(text, "_LAST_LOADED", None)
    pairs = [("a b", "c d")] * 10
    seq2seq.make_dataset(pairs[:4], pairs[:2], vocabulary=Vocab)
    assert shown == []  # nothing loaded: nothing to record against
    monkeypatch.setattr(text, "_LAST_LOADED", {"name": "eng-fra", "title": "T", "source": "full", "path": "p",
                                               "checksum": "sha256", "sizes": {"pairs": 10}})
    train, test = text.split_pairs(pairs, 0.2, 0)
    assert shown == []  # a split alone is not a use
    seq2seq.make_dataset(train[:3], test, vocabulary=Vocab)
    assert [info["use"] for info, _ in shown] == [{"train": 3, "test": 2}] and "sizes" not in shown[0][0]


def test_the_wall_time_is_written_in_the_reports_language():
    """A Chinese appendix printed "运行时间 13 s"."""
    from labkit.report import provenance

    assert provenance._duration(83.2, "zh") == "1 分 23 秒" and provenance._duration(83.2, "en") == "1 min 23 s"
    assert provenance._duration(None, "zh") == provenance._duration(-1.0, "en") == "—"
