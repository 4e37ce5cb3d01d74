"""Everything labkit itself writes into a report, in English and Chinese.

The notebook's ``lang`` parameter picks the language (``labkit.start`` calls
:func:`set_language`); before that, ``$LABKIT_LANG`` (which ``labkit report --lang``
sets in the kernel), else English. The report pipeline passes it explicitly.
Add a key to both languages at once: a test checks they have the same keys.
Setting values and run names (``kit`` -> 本套件方案) are the ``value.<name>`` keys, shown by
:func:`value_label`; a notebook adds its own with :func:`add_value_labels`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

LANGUAGES = ("en", "zh")

#: Chinese, Japanese and Korean characters and full-width punctuation, as the body of a regular
#: expression's character class (``rf"[{CJK}]"``): the one definition that the report's line joining
#: (:func:`labkit.report.document.tidy_cjk`) and the figures' text wrapping
#: (:func:`labkit.plots.wrap_text`) share. A line may break between two of them, and a line break
#: between two of them is not a space.
CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
#: Punctuation that never begins a line (Chinese line-breaking rule: a closing mark stays with the
#: character before it).
CJK_CLOSING = "，。；：、！？）》」』’”"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        # tables of runs (labkit.tables, labkit.sweeps)
        "table.note": "note",
        "table.diverged": "diverged",
        "table.collapsed": "mode collapse",
        "table.yes": "yes",
        "table.no": "no",
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
        "provenance.loads": "{n} loads: {sizes}",
        "provenance.loads_same": "{sizes} (loaded {n} times)",
        "provenance.uses": "{n} splits: {sizes}",
        "provenance.pairs": "{n} sentence pairs",
        "provenance.uses_same": "{sizes} ({n} times)",
        "provenance.read_used": "{read} read; used: {used}",
        "provenance.and": " and ",
        "provenance.sep": ", ",
        "setting.sep": ", ",
        "provenance.list": ", ",
        "provenance.threads_line": "{threads} of {cores} cores (policy {mode}, OMP_WAIT_POLICY {wait})",
        "threads.auto": "auto",
        "threads.fixed": "fixed",
        "threads.default": "default",
        "dataset.mnist": "MNIST",
        "dataset.fashion_mnist": "Fashion-MNIST",
        "dataset.cifar10": "CIFAR-10",
        "dataset.eng-fra": "English–French sentence pairs (Tatoeba)",
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
        # column and metric names (labkit.i18n.label: tables, figure axes, setting labels)
        "metric.setting": "Setting",
        "metric.model": "Model",
        "metric.epoch": "Epoch",
        "metric.epochs": "Epochs",
        "metric.rank": "Rank",
        "metric.recipe": "Recipe",
        "metric.value": "Value",
        "metric.result": "Result",
        "metric.layer": "Layer",
        "metric.class": "Class",
        "metric.loss": "Loss",
        "metric.acc": "Accuracy",
        "metric.train_loss": "Train loss",
        "metric.test_loss": "Test loss",
        "metric.train_acc": "Train accuracy",
        "metric.test_acc": "Test accuracy",
        "metric.seconds": "Time (s)",
        "metric.parameters": "Parameters",
        "metric.recon": "Reconstruction loss",
        "metric.train_recon": "Train reconstruction loss",
        "metric.test_recon": "Test reconstruction loss",
        "metric.recon_nats": "Reconstruction (nats)",
        "metric.bce_nats": "BCE (nats)",
        "metric.kl": "KL divergence",
        "metric.test_kl": "Test KL divergence",
        "metric.kl_nats": "KL (nats)",
        "metric.test_elbo_nats": "Test ELBO (nats)",
        "metric.beta": "β",
        "metric.active_dims": "Active latent dimensions",
        "metric.fid": "FID",
        "metric.fid_floor": "FID floor",
        "metric.class_entropy": "Class entropy",
        "metric.noise_std": "Noise std",
        "metric.noise": "Noise",
        "metric.n_samples": "Samples",
        "metric.score": "Score",
        "metric.loss_d": "Discriminator loss",
        "metric.loss_g": "Generator loss",
        "metric.train_loss_d": "Train discriminator loss",
        "metric.train_loss_g": "Train generator loss",
        "metric.d_loss": "Discriminator loss",
        "metric.g_loss": "Generator loss",
        "metric.critic_loss": "Critic loss",
        "metric.generator_loss": "Generator loss",
        "metric.wasserstein": "Wasserstein estimate",
        "metric.gp": "Gradient penalty",
        "metric.head": "head",  # the mlp lab's setting names: kept as the notebook writes them
        "metric.batchnorm": "batchnorm",
        "metric.rate": "rate",
        "metric.gradient_penalty": "Gradient penalty",
        "metric.d_real": "D(real)",
        "metric.d_fake": "D(fake)",
        "metric.bleu": "BLEU",
        "metric.heldout_bleu": "Held-out BLEU",
        "metric.heldout_token_acc": "Held-out token accuracy",
        "metric.masked_test_loss": "Masked test loss",
        "metric.padding_counted_test_loss": "Test loss counting padding",
        "metric.pairs": "Sentence pairs",
        "metric.train_pairs": "Training pairs",
        "metric.test_pairs": "Test pairs",
        "metric.source_vocab": "Source vocabulary",
        "metric.target_vocab": "Target vocabulary",
        "metric.max_length": "Max length",
        "metric.teacher_forcing": "Teacher forcing ratio",
        "metric.lr": "Learning rate",
        "metric.batch_size": "Batch size",
        "metric.dropout": "Dropout",
        "metric.weight_decay": "Weight decay",
        "metric.train_size": "Training set size",
        "metric.optimizer": "Optimizer",
        "metric.activation": "Activation",
        "metric.width": "Width",
        "metric.label_smoothing": "Label smoothing",
        "metric.schedule": "Schedule",
        "metric.images_per_second": "Images per second",
        "metric.images": "Images",
        "metric.samples": "Samples",
        "metric.classes": "Classes",
        "metric.dataset": "Dataset",
        "metric.device": "Device",
        "metric.per_epoch": "Per epoch",
        "metric.kind": "Kind",
        "metric.loss_sum": "Loss (sum)",
        "metric.teacher_forcing_end": "Final teacher forcing ratio",
        "metric.train_kl": "Train KL divergence",
        "metric.train_elbo_nats": "Train ELBO (nats)",
        "metric.zero_init": "Zero-init",
        "metric.flip_tta": "Flip TTA",
        "metric.steps_per_epoch": "Steps per epoch",
        "metric.warmup": "Warm-up",
        "metric.momentum": "Momentum",
        "metric.n": "n",
        "metric.cross_entropy": "Cross-entropy",
        "metric.nll": "NLL",
        "metric.mse": "MSE",
        "figure.epoch": "Epoch",
        "figure.one_epoch": "one epoch: final values",
        "scores.floor": "real train (floor)",
        "scores.noise": "real train + noise σ={std}",
        "figure.train": "train",
        "figure.test": "test",
        "run.banner": "labkit {version} · lab {lab} · profile {profile} · seed {seed} · device {device}",
        "data.loaded": "Dataset {name}: {train} train / {test} test images, {source}{checksum}",
        "data.sample_warning": "Using the embedded sample of {name} ({reason}). Results are not comparable with the full dataset.",
        "data.loaded_pairs": "Dataset {name}: {pairs} sentence pairs, {source}{checksum}",
        "data.used_pairs": "Dataset {name}: split into {train} training and {test} test pairs",
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
        "note.smoke.hedge": "(Smoke run: a few seconds of training on a tiny subset, too little to support this conclusion.)",
        "note.smoke.body": "this report was made with the smoke profile, a few seconds of training on a tiny subset to check that the code runs. Its numbers, figures and rankings mean nothing; run the quick or full profile for results.",
        "note.sample.title": "Embedded sample:",
        "note.sample.body": "{names} came from the small sample shipped with labkit, not the full dataset; results are not comparable with the full data (set LABKIT_DATA to a folder with the full data).",
        "table.continued": "(continued: columns {first}–{last} of {total})",
        "report.truncated": "[labkit: output truncated — {what} produced more than {limit} of output; the rest is not shown]",
        "report.truncated.cell": "this cell",
        "report.truncated.total": "the notebook's cells together",
        # setting values and run names (labkit.i18n.value_label; a notebook adds its own with add_value_labels)
        "value.kit": "kit",
        "value.source": "source",
        "value.constant": "constant",
        "value.cosine": "cosine",
        "value.one_cycle": "one-cycle",
        "value.cifar": "CIFAR",
        "value.imagenet": "ImageNet",
        "value.logits": "logits",
        "value.softmax_before_ce": "softmax_before_ce",
        "value.cross_entropy": "cross_entropy",
        "value.nll": "nll",
        "value.mse": "mse",
        "value.bce": "BCE",
        "value.l1": "L1",
        "value.customary": "customary",
        "value.shared": "shared",
        # labkit.vision (resnet lab)
        "vision.true_class": "True class",
        "vision.predicted_class": "Predicted class",
        "vision.fraction_of_row": "Fraction of the true class",
    },
    "zh": {
        "table.note": "备注",
        "table.diverged": "发散",
        "table.collapsed": "模式崩溃",
        "table.yes": "是",
        "table.no": "否",
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
        "provenance.loads": "{n} 次加载：{sizes}",
        "provenance.loads_same": "{sizes}（加载 {n} 次）",
        "provenance.uses": "{n} 次划分：{sizes}",
        "provenance.pairs": "{n} 个句对",
        "provenance.uses_same": "{sizes}（{n} 次）",
        "provenance.read_used": "读取 {read}；使用：{used}",
        "provenance.and": " 和 ",
        "provenance.sep": "，",
        "setting.sep": "，",
        "provenance.list": "、",
        "provenance.threads_line": "{cores} 个核心中使用 {threads} 个（策略：{mode}；OMP_WAIT_POLICY：{wait}）",
        "threads.auto": "自动",
        "threads.fixed": "固定",
        "threads.default": "默认",
        "dataset.mnist": "MNIST 手写数字",
        "dataset.fashion_mnist": "Fashion-MNIST 服装图像",
        "dataset.cifar10": "CIFAR-10",
        "dataset.eng-fra": "英法句对 (Tatoeba)",
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
        "metric.setting": "设置",
        "metric.model": "模型",
        "metric.epoch": "轮次",
        "metric.epochs": "训练轮数",
        "metric.rank": "排名",
        "metric.recipe": "方案",
        "metric.value": "取值",
        "metric.result": "结果",
        "metric.layer": "层",
        "metric.class": "类别",
        "metric.loss": "损失",
        "metric.acc": "准确率",
        "metric.train_loss": "训练损失",
        "metric.test_loss": "测试损失",
        "metric.train_acc": "训练准确率",
        "metric.test_acc": "测试准确率",
        "metric.seconds": "用时（秒）",
        "metric.parameters": "参数量",
        "metric.recon": "重构损失",
        "metric.train_recon": "训练重构损失",
        "metric.test_recon": "测试重构损失",
        "metric.recon_nats": "重构损失（奈特）",
        "metric.bce_nats": "BCE（奈特）",
        "metric.kl": "KL 散度",
        "metric.test_kl": "测试 KL 散度",
        "metric.kl_nats": "KL 散度（奈特）",
        "metric.test_elbo_nats": "测试证据下界（ELBO，奈特）",
        "metric.beta": "β",
        "metric.active_dims": "活跃隐变量维数",
        "metric.fid": "FID",
        "metric.fid_floor": "FID 下限",
        "metric.class_entropy": "类别熵",
        "metric.noise_std": "噪声标准差",
        "metric.noise": "噪声",
        "metric.n_samples": "样本数",
        "metric.score": "得分",
        "metric.loss_d": "判别器损失",
        "metric.loss_g": "生成器损失",
        "metric.train_loss_d": "训练判别器损失",
        "metric.train_loss_g": "训练生成器损失",
        "metric.d_loss": "判别器损失",
        "metric.g_loss": "生成器损失",
        "metric.critic_loss": "评论家损失",
        "metric.generator_loss": "生成器损失",
        "metric.wasserstein": "Wasserstein 距离估计",
        "metric.gp": "梯度惩罚",
        "metric.head": "输出头",
        "metric.batchnorm": "BatchNorm 位置",
        "metric.rate": "学习率取值",
        "metric.gradient_penalty": "梯度惩罚",
        "metric.d_real": "D(真实)",
        "metric.d_fake": "D(生成)",
        "metric.bleu": "BLEU",
        "metric.heldout_bleu": "留出集 BLEU",
        "metric.heldout_token_acc": "留出集词元准确率",
        "metric.masked_test_loss": "掩码测试损失",
        "metric.padding_counted_test_loss": "计入填充的测试损失",
        "metric.pairs": "句对数",
        "metric.train_pairs": "训练句对数",
        "metric.test_pairs": "测试句对数",
        "metric.source_vocab": "源语言词表大小",
        "metric.target_vocab": "目标语言词表大小",
        "metric.max_length": "最大长度",
        "metric.teacher_forcing": "教师强制比例",
        "metric.lr": "学习率",
        "metric.batch_size": "批大小",
        "metric.dropout": "Dropout 比例",
        "metric.weight_decay": "权重衰减",
        "metric.train_size": "训练集大小",
        "metric.optimizer": "优化器",
        "metric.activation": "激活函数",
        "metric.width": "宽度",
        "metric.label_smoothing": "标签平滑",
        "metric.schedule": "学习率调度",
        "metric.images_per_second": "每秒图像数",
        "metric.images": "图像数",
        "metric.samples": "样本",
        "metric.classes": "类别数",
        "metric.dataset": "数据集",
        "metric.device": "设备",
        "metric.per_epoch": "每轮",
        "metric.kind": "类型",
        "metric.loss_sum": "损失（求和）",
        "metric.teacher_forcing_end": "最终教师强制比例",
        "metric.train_kl": "训练 KL 散度",
        "metric.train_elbo_nats": "训练证据下界（ELBO，奈特）",
        "metric.zero_init": "残差块零初始化",
        "metric.flip_tta": "翻转测试时增强 (TTA)",
        "metric.steps_per_epoch": "每轮步数",
        "metric.warmup": "预热",
        "metric.momentum": "动量",
        "metric.n": "图像数",
        "metric.cross_entropy": "交叉熵",
        "metric.nll": "负对数似然 (NLL)",
        "metric.mse": "均方误差 (MSE)",
        "figure.epoch": "轮次",
        "figure.one_epoch": "仅一个轮次：最终值",
        "scores.floor": "真实训练图像（下限）",
        "scores.noise": "真实训练图像 + 噪声 σ={std}",
        "figure.train": "训练",
        "figure.test": "测试",
        "run.banner": "labkit {version} · 实验 {lab} · 配置档 {profile} · 随机种子 {seed} · 设备 {device}",
        "data.loaded": "数据集 {name}：训练 {train} 张 / 测试 {test} 张，{source}{checksum}",
        "data.sample_warning": "正在使用 {name} 的内置样本（{reason}）。结果不能与完整数据集直接比较。",
        "data.loaded_pairs": "数据集 {name}：{pairs} 个句对，{source}{checksum}",
        "data.used_pairs": "数据集 {name}：划分为 {train} 个训练句对和 {test} 个测试句对",
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
        "note.smoke.hedge": "（冒烟测试运行：只在极小的子集上训练几秒钟，不足以支持这一结论。）",
        "note.smoke.body": "本报告使用 smoke 配置档生成，只在极小的子集上训练几秒钟，用于检查代码能否运行。其中的数值、图表和排名没有任何意义；要得到实验结果，请使用 quick 或 full 配置档。",
        "note.sample.title": "内置样本：",
        "note.sample.body": "{names} 来自 labkit 自带的小样本，而不是完整数据集；结果不能与完整数据直接比较（将 LABKIT_DATA 设为存放完整数据的文件夹）。",
        "table.continued": "（续：第 {first}–{last} 列，共 {total} 列）",
        "report.truncated": "[labkit：输出已截断——{what}的输出超过 {limit}，其余部分未显示]",
        "report.truncated.cell": "该单元格",
        "report.truncated.total": "所有单元格合计",
        "value.kit": "本套件方案",
        "value.source": "源报告方案",
        "value.constant": "恒定",
        "value.cosine": "余弦衰减",
        "value.one_cycle": "单周期",
        "value.cifar": "CIFAR 式",
        "value.imagenet": "ImageNet 式",
        "value.logits": "直接输出 logits",
        "value.softmax_before_ce": "先 Softmax 再交叉熵",
        "value.cross_entropy": "交叉熵",
        "value.nll": "负对数似然 (NLL)",
        "value.mse": "均方误差 (MSE)",
        "value.bce": "二元交叉熵 (BCE)",
        "value.l1": "L1 损失",
        "value.customary": "惯用",
        "value.shared": "统一",
        "vision.true_class": "真实类别",
        "vision.predicted_class": "预测类别",
        "vision.fraction_of_row": "占该真实类别的比例",
    },
}
#: Setting values written the same in every language (the optimizers' and devices' own names).
_NAMES = {"value.adam": "Adam", "value.adamw": "AdamW", "value.sgd": "SGD", "value.adadelta": "Adadelta",
          "value.adagrad": "Adagrad", "value.rmsprop": "RMSprop", "value.cpu": "CPU", "value.cuda": "CUDA",
          "value.mps": "MPS"}
for _table in STRINGS.values():
    _table.update(_NAMES)

_current = os.environ.get("LABKIT_LANG", "en") if os.environ.get("LABKIT_LANG") in LANGUAGES else "en"


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


def label(name: object, lang: str | None = None) -> object:
    """A column, index or metric name in ``lang`` (default: the current language).

    A name the kit knows (``metric.<name>``: ``train_acc`` -> "Train accuracy" / "训练准确率", ``fid``,
    ``class_entropy``, ``seconds``...) is translated; anything else (a notebook's own ``tr(...)`` text,
    a number) is returned unchanged.
    """
    if not isinstance(name, str):
        return name
    table = STRINGS[check_language(lang or _current)]
    for key in (f"metric.{name}", f"metric.{_identifier(name)}"):
        if key in table or key in STRINGS["en"]:
            return table.get(key, STRINGS["en"][key])
    return name


def dataset_title(info: dict, lang: str | None = None) -> str:
    """A dataset's display name in ``lang`` from its info (``name``, ``title``): ``eng-fra`` ->
    "English–French sentence pairs (Tatoeba)" / "英法句对 (Tatoeba)"; an unknown name -> its title."""
    key = f"dataset.{info.get('name')}"
    table = STRINGS[check_language(lang or _current)]
    if key in table or key in STRINGS["en"]:
        return table.get(key, STRINGS["en"][key])
    return str(info.get("title") or info.get("name") or "")


def _identifier(name: str) -> str:
    """A name as written in a table (``batch size``, ``zero-init``, ``steps/epoch``, ``flip TTA``) in the
    form of the kit's keys (``batch_size``, ``zero_init``, ``steps_per_epoch``, ``flip_tta``)."""
    return "_".join(name.strip().lower().replace("/", " per ").replace("-", " ").split())


def value_label(value: object, lang: str | None = None) -> object:
    """A setting's value or a run's name as the report shows it, in ``lang`` (default: the current language).

    One registry for every lab: the kit's own values are the ``value.<name>`` keys of :data:`STRINGS`
    (``"kit"`` -> "本套件方案", ``"source"`` -> "源报告方案", ``"sgd"`` -> "SGD",
    ``"constant"`` -> "恒定", ``"imagenet"`` -> "ImageNet 式"...); a notebook adds its own names with
    :func:`add_value_labels`. A boolean is shown as yes / no (as :func:`labkit.show_table` shows it);
    numbers and strings nobody registered come back unchanged, so the code and the records keep the
    values themselves::

        labkit.value_label(cfg.recipe)      # "source" -> "源报告方案" in a Chinese report
        labkit.value_label(0.01)            # 0.01
    """
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool") and hasattr(value, "dtype"):  # NumPy's too
        return t("table.yes" if value else "table.no", lang)
    if not isinstance(value, str):
        return value
    key = _VALUE + value
    table = STRINGS[check_language(lang or _current)]
    if key in table or key in STRINGS["en"]:
        return table.get(key, STRINGS["en"].get(key, value))
    return value


def add_value_labels(labels: Mapping[str, str | tuple[str, str]]) -> None:
    """Register a notebook's own setting values or run names for :func:`value_label` (and so for
    :func:`setting_label`, the tables' index and the figures' legends).

    ``labels`` maps each name to its Chinese text (the English text is then the name itself) or to an
    ``(English, Chinese)`` pair::

        labkit.add_value_labels({"mlp AE": "MLP 自编码器", "no KL": ("no KL term", "无 KL 项")})

    Registering a name again replaces the notebook's earlier text (re-running the cell). Raises
    ValueError, before registering anything, for a name that is not a non-empty string, a text that is
    not a string or a pair of strings, or one of labkit's own values given another text (one term per
    value across the labs: use labkit's, or another name).
    """
    entries = {}
    for name, text in dict(labels).items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"add_value_labels: the name {name!r} is not a non-empty string; "
                             "give each setting value or run name as text")
        pair = (name, text) if isinstance(text, str) else text
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) and x for x in pair)):
            raise ValueError(f"add_value_labels: the text of {name!r} is {text!r}; give its Chinese text, "
                             "or an (English, Chinese) pair of strings")
        key = _VALUE + name
        if key in _KIT_VALUES and pair != (STRINGS["en"][key], STRINGS["zh"][key]):
            raise ValueError(f"add_value_labels: {name!r} is one of labkit's own values, shown as "
                             f"{STRINGS['en'][key]!r} / {STRINGS['zh'][key]!r}; use that text, or another name")
        entries[key] = pair
    for key, (en, zh) in entries.items():
        STRINGS["en"][key], STRINGS["zh"][key] = en, zh


def smoke_hedge(profile: str | None, lang: str | None = None) -> str:
    """The words that hedge a sentence drawing a conclusion from a run's numbers (a ranking, "A is below
    B", "it overfits") when ``profile`` is ``"smoke"``: seconds of training, too little to support it
    (the report's smoke note, ``note.smoke.*``, says so for the whole report). ``" (Smoke run: ...)"``
    / ``"（冒烟测试运行：…）"`` to append to the sentence, else ``""``."""
    if profile != "smoke":
        return ""
    text = t("note.smoke.hedge", lang)
    return text if text.startswith("（") else " " + text


def setting_label(text: object, lang: str | None = None) -> object:
    """A sweep's setting label or a run's name in ``lang``: the names and values it knows translated.

    ``"lr=0.01, batch_size=64"`` -> ``"学习率=0.01，批大小=64"`` and ``"recipe=source"`` ->
    ``"方案=源报告方案"`` in Chinese (names through :func:`label`, values through :func:`value_label`;
    settings joined by the language's list separator, ``"setting.sep"``: the Chinese comma in Chinese;
    ``True`` / ``False`` as yes / no); a whole registered name (``"mlp AE"``) through :func:`value_label`,
    another plain name through :func:`label`; anything else unchanged (numbers, unknown text).
    """
    if not isinstance(text, str):
        return text
    whole = value_label(text, lang)
    if whole != text:
        return whole
    if "=" not in text:
        return label(text, lang)
    parts = []
    for part in text.split(", "):
        name, sep, value = part.partition("=")
        if sep and name.isidentifier():
            shown = value_label({"True": True, "False": False}.get(value, value), lang)
            parts.append(f"{label(name, lang)}{sep}{shown}")
        else:
            parts.append(str(value_label(part, lang)))
    return t("setting.sep", lang).join(parts)


_VALUE = "value."
#: labkit's own values: a notebook may not give them another text (:func:`add_value_labels`).
_KIT_VALUES = frozenset(key for key in STRINGS["en"] if key.startswith(_VALUE))
