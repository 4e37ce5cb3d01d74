"""Everything labkit itself writes into a report, in English and Chinese.

The notebook's ``lang`` parameter picks the language (``labkit.start`` calls
:func:`set_language`); the report pipeline passes it explicitly.
Add a key to both languages at once: a test checks they have the same keys.
"""
from __future__ import annotations

LANGUAGES = ("en", "zh")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        # provenance section
        "provenance.title": "Environment and provenance",
        "provenance.item": "Item",
        "provenance.value": "Value",
        "provenance.os": "Operating system",
        "provenance.cpu": "CPU",
        "provenance.gpu": "GPU",
        "provenance.device": "Device used",
        "provenance.threads": "CPU threads (used / usable cores, policy)",
        "provenance.python": "Python",
        "provenance.torch": "PyTorch",
        "provenance.torchvision": "torchvision",
        "provenance.labkit": "labkit version",
        "provenance.commit": "Git commit",
        "provenance.notebook": "Notebook",
        "provenance.seed": "Seed",
        "provenance.profile": "Profile",
        "provenance.started": "Started",
        "provenance.wall_time": "Wall time",
        "provenance.parameters": "Parameters",
        "provenance.parameter": "Parameter",
        "provenance.datasets": "Datasets",
        "provenance.dataset": "Dataset",
        "provenance.splits": "Split sizes",
        "provenance.source": "Source",
        "provenance.checksum": "Checksum",
        "provenance.none": "none",
        "provenance.no_gpu": "none (CPU only)",
        "provenance.path": "Path",
        "provenance.set_by": "Set by",
        "provenance.by_default": "default",
        "provenance.by_override": "override",
        "provenance.by_profile": "profile",
        "split.train": "train",
        "split.test": "test",
        "split.pairs": "sentence pairs",
        "source.full": "full data",
        "source.downloaded": "downloaded",
        "source.sample": "embedded sample (not the full dataset)",
        "checksum.ok": "verified",
        "checksum.unverified": "not verified",
        "checksum.md5": "md5 verified against the published sums",
        "checksum.sha256": "sha256 verified against the published file",
        "checksum.sample-sha256": "embedded sample's content hash verified",
        # errors in reports
        "error.title": "This report is incomplete: a cell failed",
        "error.body": "Cell {cell} raised {ename}: {evalue}. The outputs below stop at that cell.",
        "error.dead_kernel": "The kernel died while running cell {cell}.",
        "error.at_cell": "Execution stopped here",
        "error.cell": "cell {index} (In [{count}])",
        "error.raised": "{cell} raised {ename}: {evalue}",
        "error.died": "The kernel died while running {cell} (out of memory, a crash in native code, or the process was killed).",
        "error.timeout": "{cell} did not finish within the time limit per cell: {evalue}",
        "error.stopped": "The outputs below stop at that cell.",
        "error.link": "Go to the failing cell",
        # tables and figures
        "table.setting": "Setting",
        "table.model": "Model",
        "table.epoch": "Epoch",
        "table.train_loss": "Train loss",
        "table.test_loss": "Test loss",
        "table.train_acc": "Train accuracy",
        "table.test_acc": "Test accuracy",
        "table.seconds": "Time (s)",
        "table.rank": "Rank",
        "figure.epoch": "Epoch",
        "figure.loss": "Loss",
        "figure.accuracy": "Accuracy",
        "figure.train": "train",
        "figure.test": "test",
        "run.banner": "labkit {version} · lab {lab} · profile {profile} · seed {seed} · device {device}",
        "data.loaded": "Dataset {name}: {train} train / {test} test images, {source}{checksum}",
        "data.sample_warning": "Using the embedded sample of {name} ({reason}). Results are not comparable with the full dataset.",
        "data.loaded_pairs": "Dataset {name}: {pairs} sentence pairs, {source}{checksum}",
        "data.checksum_part": ", checksum {checksum}",
        # the printed report (labkit.report.document)
        "cover.heading": "Lab report",
        "cover.course": "Course",
        "cover.experiment": "Experiment",
        "cover.name": "Name",
        "cover.student_id": "Student number",
        "cover.class": "Class",
        "cover.instructor": "Instructor",
        "cover.date": "Date",
        "analysis.todo": "To be written",
        "analysis.hint": "Write your own analysis here (double-click this cell in Jupyter and replace this box).",
        "note.smoke.title": "Smoke run:",
        "note.smoke.body": "this report was made with the smoke profile, a few seconds of training on a tiny subset to check that the code runs. Its numbers, figures and rankings mean nothing; run the quick or full profile for results.",
        "note.sample.title": "Embedded sample:",
        "note.sample.body": "{names} came from the small sample shipped with labkit, not the full dataset; results are not comparable with the full data (set LABKIT_DATA to a folder with the full data).",
        "table.continued": "(continued: columns {first}–{last} of {total})",
        # labkit.vision (resnet lab)
        "vision.true_class": "True class",
        "vision.predicted_class": "Predicted class",
        "vision.fraction_of_row": "Fraction of the true class",
    },
    "zh": {
        "provenance.title": "运行环境与来源",
        "provenance.item": "项目",
        "provenance.value": "值",
        "provenance.os": "操作系统",
        "provenance.cpu": "CPU",
        "provenance.gpu": "GPU",
        "provenance.device": "使用的设备",
        "provenance.threads": "CPU 线程（使用 / 可用核心，策略）",
        "provenance.python": "Python",
        "provenance.torch": "PyTorch",
        "provenance.torchvision": "torchvision",
        "provenance.labkit": "labkit 版本",
        "provenance.commit": "Git 提交",
        "provenance.notebook": "笔记本",
        "provenance.seed": "随机种子",
        "provenance.profile": "配置档",
        "provenance.started": "开始时间",
        "provenance.wall_time": "运行时间",
        "provenance.parameters": "参数",
        "provenance.parameter": "参数名",
        "provenance.datasets": "数据集",
        "provenance.dataset": "数据集",
        "provenance.splits": "划分大小",
        "provenance.source": "来源",
        "provenance.checksum": "校验",
        "provenance.none": "无",
        "provenance.no_gpu": "无（仅 CPU）",
        "provenance.path": "路径",
        "provenance.set_by": "取值来源",
        "provenance.by_default": "默认值",
        "provenance.by_override": "覆盖值",
        "provenance.by_profile": "配置档",
        "split.train": "训练",
        "split.test": "测试",
        "split.pairs": "句对",
        "source.full": "完整数据",
        "source.downloaded": "已下载",
        "source.sample": "内置样本（非完整数据集）",
        "checksum.ok": "已校验",
        "checksum.unverified": "未校验",
        "checksum.md5": "已按公布的 md5 校验",
        "checksum.sha256": "已按公布文件的 sha256 校验",
        "checksum.sample-sha256": "已校验内置样本的内容哈希",
        "error.title": "报告不完整：有单元格运行失败",
        "error.body": "第 {cell} 个单元格抛出 {ename}：{evalue}。以下输出止于该单元格。",
        "error.dead_kernel": "运行第 {cell} 个单元格时内核崩溃。",
        "error.at_cell": "运行在此处停止",
        "error.cell": "单元格 {index}（In [{count}]）",
        "error.raised": "{cell}抛出 {ename}：{evalue}",
        "error.died": "运行{cell}时内核崩溃（可能是内存不足、本地代码崩溃或进程被终止）。",
        "error.timeout": "{cell}未在单个单元格的时间限制内完成：{evalue}",
        "error.stopped": "以下输出止于该单元格。",
        "error.link": "跳转到出错的单元格",
        "table.setting": "设置",
        "table.model": "模型",
        "table.epoch": "轮次",
        "table.train_loss": "训练损失",
        "table.test_loss": "测试损失",
        "table.train_acc": "训练准确率",
        "table.test_acc": "测试准确率",
        "table.seconds": "用时（秒）",
        "table.rank": "排名",
        "figure.epoch": "轮次",
        "figure.loss": "损失",
        "figure.accuracy": "准确率",
        "figure.train": "训练",
        "figure.test": "测试",
        "run.banner": "labkit {version} · 实验 {lab} · 配置档 {profile} · 随机种子 {seed} · 设备 {device}",
        "data.loaded": "数据集 {name}：训练 {train} 张 / 测试 {test} 张，{source}{checksum}",
        "data.sample_warning": "正在使用 {name} 的内置样本（{reason}）。结果不能与完整数据集直接比较。",
        "data.loaded_pairs": "数据集 {name}：{pairs} 个句对，{source}{checksum}",
        "data.checksum_part": "，{checksum}",
        "cover.heading": "实验报告",
        "cover.course": "课程名称",
        "cover.experiment": "实验名称",
        "cover.name": "姓名",
        "cover.student_id": "学号",
        "cover.class": "班级",
        "cover.instructor": "指导教师",
        "cover.date": "日期",
        "analysis.todo": "待填写",
        "analysis.hint": "请在此写下你自己的分析（在 Jupyter 中双击本单元格，替换这个方框）。",
        "note.smoke.title": "冒烟测试运行：",
        "note.smoke.body": "本报告使用 smoke 配置档生成，只在极小的子集上训练几秒钟，用于检查代码能否运行。其中的数值、图表和排名没有任何意义；要得到实验结果，请使用 quick 或 full 配置档。",
        "note.sample.title": "内置样本：",
        "note.sample.body": "{names} 来自 labkit 自带的小样本，而不是完整数据集；结果不能与完整数据直接比较（将 LABKIT_DATA 设为存放完整数据的文件夹）。",
        "table.continued": "（续：第 {first}–{last} 列，共 {total} 列）",
        "vision.true_class": "真实类别",
        "vision.predicted_class": "预测类别",
        "vision.fraction_of_row": "占该真实类别的比例",
    },
}

_current = "en"


def set_language(lang: str) -> None:
    """Set the language labkit writes in (``"en"`` or ``"zh"``)."""
    global _current
    _current = check_language(lang)


def language() -> str:
    """The language labkit currently writes in."""
    return _current


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"lang {lang!r} is not supported; choose one of: {', '.join(LANGUAGES)}")
    return lang


def t(key: str, lang: str | None = None, **fields: object) -> str:
    """The text for ``key`` in ``lang`` (default: the current language).

    Unknown keys fall back to English, then to the key itself, so a missing
    translation never breaks a report.
    """
    table = STRINGS[check_language(lang or _current)]
    text = table.get(key, STRINGS["en"].get(key, key))
    return text.format(**fields) if fields else text


def tr(en: str, zh: str, **fields: object) -> str:
    """A notebook's own text in the report's language: ``en`` or ``zh``, chosen by ``lang``.

    For captions, figure titles, axis labels and printed sentences written in
    a lab notebook (labkit's own labels use :func:`t`; markdown prose uses
    cells tagged ``lang-en`` / ``lang-zh``, see CONTRIBUTING.md)::

        labkit.tr("Test accuracy", "测试准确率")
        labkit.tr("{n} epochs", "{n} 个轮次", n=cfg.epochs)
    """
    text = zh if _current == "zh" else en
    return text.format(**fields) if fields else text
