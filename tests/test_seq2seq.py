import ast
import json
import pathlib

import pytest
import torch
from torch import nn

import labkit
from labkit import seq2seq as s2s
from labkit.seq2seq import EOS, PAD, SOS, SPECIALS, UNK, SequenceLoss


class Vocab:
    """The test's own vocabulary (labkit has none: writing it is the lab's exercise 1)."""

    def __init__(self, name="", min_count=1):
        self.name, self.min_count = name, min_count
        self.index2word, self.word2index, self.counts = list(SPECIALS), {w: i for i, w in enumerate(SPECIALS)}, {}

    def add_sentence(self, sentence):
        for word in sentence.split():
            self.counts[word] = self.counts.get(word, 0) + 1
            if word not in self.word2index and self.counts[word] >= self.min_count:
                self.word2index[word] = len(self.index2word)
                self.index2word.append(word)

    def encode(self, sentence):
        return [self.word2index.get(word, UNK) for word in sentence.split()] + [EOS]

    def __len__(self):
        return len(self.index2word)


def vocab_of(*sentences, min_count=1):
    v = Vocab(min_count=min_count)
    for sentence in sentences:
        v.add_sentence(sentence)
    return v


class TinyTranslator(nn.Module):
    """The smallest model that follows the contract: GRU encoder, GRU-cell decoder, dot attention."""

    def __init__(self, source_size, target_size, hidden=32):
        super().__init__()
        self.source_embedding = nn.Embedding(source_size, hidden, padding_idx=PAD)
        self.target_embedding = nn.Embedding(target_size, hidden, padding_idx=PAD)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.cell = nn.GRUCell(2 * hidden, hidden)
        self.out = nn.Linear(hidden, target_size)
        self.steps = 0

    def encode(self, src):
        mask = src != PAD
        packed = nn.utils.rnn.pack_padded_sequence(self.source_embedding(src), mask.sum(1), batch_first=True,
                                                   enforce_sorted=False)
        outputs, h = self.encoder(packed)
        outputs = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])[0]
        return h[0], outputs, mask

    def step(self, prev, state):
        self.steps += 1
        h, outputs, mask = state
        scores = torch.einsum("nh,nsh->ns", h, outputs).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, -1)
        context = torch.einsum("ns,nsh->nh", weights, outputs)
        h = self.cell(torch.cat([self.target_embedding(prev), context], -1), h)
        return torch.log_softmax(self.out(h), -1), (h, outputs, mask), weights


class Scripted(nn.Module):
    """A model whose step emits a fixed token sequence per sentence, to test the loops exactly.

    Its state is each sentence's row in ``script`` (the first source token: tests pass
    ``ids(n)`` as the source) and the step number, batch first.
    """

    def __init__(self, script, vocab_size=8):
        super().__init__()
        self.script = script  # (N, T) tokens to emit
        self.vocab_size = vocab_size
        self.fed = []  # the tokens fed to each step
        self.rows = []  # the sentences (rows of the script) decoded at each step
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, src):
        return src[:, 0].clone(), torch.zeros(len(src), dtype=torch.long)

    def step(self, prev, state):
        rows, t = state
        self.fed.append(prev.clone())
        self.rows.append(rows.clone())
        logits = torch.full((len(prev), self.vocab_size), -10.0)
        logits[torch.arange(len(prev)), self.script[rows, t]] = 0.0
        return torch.log_softmax(logits + self.dummy, -1), (rows, t + 1), None


@pytest.fixture
def one_thread():
    """Tiny models run faster on one thread (and do not fight over a shared CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ids(n):
    """A source batch for :class:`Scripted`: sentence i is the single token i."""
    return torch.arange(n).unsqueeze(1)


def toy_pairs():
    """Copy-and-reverse 'translation' with a small vocabulary: learnable in a few epochs."""
    g = torch.Generator().manual_seed(0)
    words = [f"w{i}" for i in range(8)]
    pairs = []
    for _ in range(300):
        n = int(torch.randint(2, 6, (1,), generator=g))
        idx = torch.randint(0, 8, (n,), generator=g).tolist()
        src = " ".join(words[i] for i in idx)
        tgt = " ".join(words[i].upper() for i in reversed(idx))
        pairs.append((src, tgt))
    return pairs[:250], pairs[250:]


# ------------------------------------------------------------------ vocabulary


def test_labkit_ships_no_vocabulary_solution():
    # The lab's exercise 1 is the word -> index logic; the wheel students get must not contain it
    # (``class Vocabulary(labkit.seq2seq.Vocabulary): pass`` passed the hidden check).
    assert not hasattr(s2s, "Vocabulary")
    root = pathlib.Path(labkit.__file__).parent
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.py")
                 if "def add_word" in path.read_text(encoding="utf-8")
                 or "word2index" in path.read_text(encoding="utf-8")]
    assert offenders == []


def test_labkit_defines_no_exercise_of_any_lab():
    # Every top-level function or class of a lab notebook that holds an exercise region is the student's
    # to write: labkit (which students get as a wheel) must not define one of the same name to import.
    notebooks = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
    exercises = {}
    for notebook in notebooks:
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or "### BEGIN SOLUTION" not in source:
                continue
            lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            marks = [i + 1 for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line]
            for node in ast.parse("\n".join(lines)).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and \
                        any(node.lineno <= mark <= node.end_lineno for mark in marks):
                    exercises[node.name] = notebook.stem
    assert {"Vocabulary", "GRUCell", "Attention", "masked_nll"} <= set(exercises)  # the scan sees the exercises
    root = pathlib.Path(labkit.__file__).parent
    clashes = [f"{exercises[node.name]}: {node.name} in labkit/{path.relative_to(root)}"
               for path in root.rglob("*.py") for node in ast.parse(path.read_text(encoding="utf-8")).body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in exercises]
    assert clashes == []


def test_decode_stops_at_eos_and_skips_pad_and_sos():
    v = vocab_of("i am cold .")
    assert (PAD, SOS, EOS, UNK) == (0, 1, 2, 3)
    assert s2s.decode(v, [SOS, 4, 5, 6, 7, EOS, 4, 4]) == "i am cold ."
    assert s2s.decode(v, [4, PAD, 5]) == "i am"
    assert s2s.decode(v, torch.tensor([4, UNK, EOS])) == "i <unk>"


# ------------------------------------------------------------------ batching


def test_encode_batch_pads_after_eos():
    v = vocab_of("a b c", "d")
    batch = s2s.encode_batch(v, ["a b c", "d"])
    assert batch.dtype == torch.long and batch.shape == (2, 4)
    assert batch.tolist() == [[4, 5, 6, EOS], [7, EOS, PAD, PAD]]
    assert s2s.encode_batch(v, ["d"], length=5).tolist() == [[7, EOS, PAD, PAD, PAD]]
    assert s2s.decode_batch(v, batch) == ["a b c", "d"]
    assert s2s.padding_mask(batch).sum(1).tolist() == [4, 2]


def test_encode_batch_rejects_a_sentence_that_does_not_fit():
    v = vocab_of("a b c")
    with pytest.raises(ValueError, match="length=3"):
        s2s.encode_batch(v, ["a b c"], length=3)


def test_encode_batch_rejects_an_index_outside_the_vocabulary():
    v = vocab_of("a b c")
    v.encode = lambda sentence: [4, 99, EOS]
    with pytest.raises(ValueError, match="index 99"):
        s2s.encode_batch(v, ["a b"])


def test_trim_drops_all_padding_columns():
    x = torch.tensor([[4, EOS, PAD, PAD], [4, 5, EOS, PAD]])
    assert s2s.trim(x).tolist() == [[4, EOS, PAD], [4, 5, EOS]]
    assert s2s.trim(torch.full((2, 3), PAD)).shape == (2, 1)


def test_make_dataset_builds_vocabularies_from_training_pairs_only():
    train, test = [("a b", "x y"), ("b c", "y z")], [("a d", "x w")]
    d = s2s.make_dataset(train, test, vocabulary=Vocab, names=("fra", "eng"))
    assert isinstance(d.source_vocab, Vocab) and d.source_vocab.name == "fra"
    assert "d" not in d.source_vocab.word2index  # test-only word
    assert d.test[0].tolist() == [[d.source_vocab.word2index["a"], UNK, EOS]]
    assert d.train[0].shape == (2, 3) and d.train[1].shape == (2, 3)
    assert d.summary() == {"train_pairs": 2, "test_pairs": 1, "source_vocab": 7, "target_vocab": 7}
    rare = s2s.make_dataset(train, test, vocabulary=Vocab, min_count=2)
    assert rare.source_vocab.index2word == list(SPECIALS) + ["b"]  # min_count reaches the class
    with pytest.raises(ValueError, match="training and test"):
        s2s.make_dataset(train, [], vocabulary=Vocab)


def test_make_dataset_refuses_a_bad_vocabulary_before_any_work():
    train, test = [("a b", "x y")], [("a", "x")]
    with pytest.raises(TypeError, match="vocabulary"):
        s2s.make_dataset(train, test)  # the lab's class is required
    with pytest.raises(TypeError, match="vocabulary class"):
        s2s.make_dataset(train, test, vocabulary=Vocab())
    with pytest.raises(ValueError, match="min_count"):
        s2s.make_dataset(train, test, vocabulary=Vocab, min_count=0)

    class NoEncode:
        def __init__(self, name, min_count):
            self.index2word = list(SPECIALS)

        def add_sentence(self, sentence):
            pass

        def __len__(self):
            return 4

    with pytest.raises(TypeError, match="lacks encode"):
        s2s.make_dataset(train, test, vocabulary=NoEncode)

    class Shuffled(Vocab):
        def __init__(self, name="", min_count=1):
            super().__init__(name, min_count)
            self.index2word = ["<unk>", "<pad>", "<sos>", "<eos>"]

    with pytest.raises(ValueError, match="special tokens"):
        s2s.make_dataset(train, test, vocabulary=Shuffled)


# ------------------------------------------------------------------ loss


def test_sequence_nll_is_the_mean_over_real_tokens_only():
    torch.manual_seed(0)
    model = TinyTranslator(10, 7)
    source = torch.tensor([[4, 5, EOS], [6, EOS, PAD]])
    target = torch.tensor([[4, EOS, PAD, PAD], [5, 6, 4, EOS]])
    loss, acc = s2s.sequence_nll(model, source, target)
    # by hand: each sentence alone, teacher-forced, its log-probabilities summed over its real tokens
    total, right = 0.0, 0
    for i, length in enumerate((2, 4)):
        state = model.encode(source[i:i + 1, :3 - i])
        prev = torch.tensor([SOS])
        for t in range(length):
            log_probs, state, _ = model.step(prev, state)
            total -= log_probs[0, target[i, t]].item()
            right += int(log_probs[0].argmax() == target[i, t])
            prev = target[i, t:t + 1]
    assert loss.item() == pytest.approx(total / 6, rel=1e-5)
    assert acc.item() == pytest.approx(right / 6)
    # padding columns change nothing
    wider = torch.cat([target, torch.full((2, 3), PAD)], 1)
    assert s2s.sequence_nll(model, source, wider)[0].item() == pytest.approx(loss.item(), rel=1e-6)


def test_sequence_nll_token_accuracy_and_shrinking_batch():
    script = torch.tensor([[4, EOS, 7, 7], [5, 6, 4, EOS], [4, 4, EOS, 7]])
    target = torch.tensor([[4, EOS, PAD, PAD], [5, 6, 4, EOS], [4, 5, EOS, PAD]])
    model = Scripted(script)
    loss, acc = s2s.sequence_nll(model, ids(3), target)
    assert acc.item() == pytest.approx(8 / 9)  # one wrong token (row 2, step 1) of 9 real ones
    # sorted by length (4, 3, 2), then only the sentences that still have a token are decoded
    assert [r.tolist() for r in model.rows] == [[1, 2, 0], [1, 2, 0], [1, 2], [1]]
    assert [p.tolist() for p in model.fed] == [[SOS] * 3, [5, 4, 4], [6, 5], [4]]  # the references
    assert loss.item() == pytest.approx(10.0 / 9, abs=1e-3)  # the wrong token costs about 10 nats


def test_teacher_forcing_feeds_the_reference_or_the_prediction():
    script = torch.tensor([[5, 6, 7], [5, 6, 7]])
    target = torch.tensor([[4, 4, EOS], [4, 4, EOS]])
    free = Scripted(script)
    s2s.sequence_nll(free, ids(2), target, 0.0)
    assert [p.tolist() for p in free.fed] == [[SOS, SOS], [5, 5], [6, 6]]
    with pytest.raises(ValueError, match="teacher_forcing"):
        s2s.sequence_nll(free, ids(2), target, 1.5)


def test_partial_teacher_forcing_is_chosen_per_sentence():
    torch.manual_seed(0)
    n = 400
    model = Scripted(torch.full((n, 3), 5))
    s2s.sequence_nll(model, ids(n), torch.full((n, 3), 4), 0.5)
    step1, step2 = model.fed[1], model.fed[2]
    assert torch.equal(step1, step2)  # the same choice at every step of a sentence
    assert 0.35 < (step1 == 4).float().mean().item() < 0.65


def test_state_tensors_must_be_batch_first():
    class BatchSecond(Scripted):
        def encode(self, src):
            return torch.zeros(1, len(src), 4)

    with pytest.raises(ValueError, match="first dimension"):
        s2s.sequence_nll(BatchSecond(torch.zeros(3, 2, dtype=torch.long)), ids(3),
                         torch.tensor([[4, EOS]] * 3))
    assert s2s.select_rows((torch.arange(5), None, [torch.ones(5, 2)]), 2)[2][0].shape == (2, 2)
    with pytest.raises(TypeError, match="decoder state"):
        s2s.select_rows({"h": torch.ones(3)}, 2)


def test_sequence_loss_teacher_forces_in_eval_mode():
    script = torch.tensor([[5, 6, 7]])
    model = Scripted(script)
    loss = SequenceLoss(teacher_forcing=0.0)
    x, y = ids(1), torch.tensor([[4, 4, EOS, PAD, PAD]])
    model.eval()
    value, metrics = loss(model, x, y)
    assert [p.tolist() for p in model.fed] == [[SOS], [4], [4]]  # 3 real tokens, teacher-forced
    assert set(metrics) == {"acc"} and value.ndim == 0
    model.train()
    model.fed.clear()
    loss(model, x, y)
    assert [p.tolist() for p in model.fed] == [[SOS], [5], [6]]
    with pytest.raises(ValueError):
        SequenceLoss(teacher_forcing=-0.1)
    assert "0.0" in repr(loss)


# ------------------------------------------------------------------ decoding and BLEU


def test_greedy_decode_stops_at_eos_and_pads_after_it():
    script = torch.tensor([[4, EOS, 6, 6], [4, 5, 6, EOS]])
    model = Scripted(script)
    model.train()
    decoded = s2s.greedy_decode(model, ids(2), max_length=10)
    assert decoded.tokens.tolist() == [[4, EOS, PAD, PAD], [4, 5, 6, EOS]]
    assert decoded.attention is None
    assert model.training  # mode restored
    short = s2s.greedy_decode(Scripted(script), ids(2), max_length=2)
    assert short.tokens.shape == (2, 2)


def test_bleu_uses_sacrebleu_corpus_bleu():
    import sacrebleu

    hyps = ["i m cold .", "he is a good boy .", "you are late"]
    refs = ["i m cold .", "he is a nice boy .", "you are late ."]
    expected = sacrebleu.corpus_bleu(hyps, [refs], force=True).score
    assert s2s.bleu(hyps, refs) == pytest.approx(expected)
    assert s2s.bleu(refs, refs) == pytest.approx(100.0)
    assert s2s.bleu(["x y z w"], ["i m cold ."]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="references"):
        s2s.bleu(hyps, refs[:2])
    with pytest.raises(ValueError):
        s2s.bleu([], [])


def test_show_translations_prints_source_reference_output(capsys):
    text = s2s.show_translations(["je suis froid ."], ["i m cold ."], ["i am cold ."])
    assert capsys.readouterr().out.strip() == "> je suis froid .\n= i m cold .\n< i am cold ."
    assert text.startswith("> je")
    with pytest.raises(ValueError):
        s2s.show_translations(["a"], [], ["b"])


def test_translations_table_one_row_per_sentence_one_column_per_model():
    table = s2s.translations_table(["je suis froid .", "il est grand ."], ["i m cold .", "he is tall ."],
                                   {"rnn": ["he s s", "he s s"], "gru": ["i m cold .", "he is tall ."]},
                                   source="源句（法语）", reference="参考译文")
    assert list(table.columns) == ["源句（法语）", "参考译文", "rnn", "gru"]
    assert table.index.name == "#" and list(table.index) == [1, 2]
    assert table.loc[2, "gru"] == "he is tall ." and table.loc[1, "rnn"] == "he s s"
    with pytest.raises(ValueError, match="1 translations from 'rnn'"):
        s2s.translations_table(["a", "b"], ["c", "d"], {"rnn": ["x"]})
    with pytest.raises(ValueError, match="references"):
        s2s.translations_table(["a", "b"], ["c"], {})
    with pytest.raises(ValueError, match="column header"):
        s2s.translations_table(["a"], ["c"], {"source": ["x"]})


def test_fit_learns_a_toy_translation_and_bleu_rises(one_thread):
    train_pairs, test_pairs = toy_pairs()
    d = s2s.make_dataset(train_pairs, test_pairs, vocabulary=Vocab)
    labkit.seed_everything(0)
    model = TinyTranslator(len(d.source_vocab), len(d.target_vocab))
    before, _ = s2s.evaluate_bleu(model, d, max_length=8)
    history = labkit.fit(model, d.train, d.test, epochs=12, batch_size=25, loss=SequenceLoss(),
                         optimizer=torch.optim.Adam(model.parameters(), lr=0.01), progress_bar=False)
    after, outputs = s2s.evaluate_bleu(model, d, max_length=8)
    assert history.last("test_acc") > 0.6
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert after > before + 20 and len(outputs) == len(test_pairs)
    assert s2s.evaluate_bleu(model, d, max_length=8, split="train")[0] > 20
    with pytest.raises(ValueError, match="split"):
        s2s.evaluate_bleu(model, d, max_length=8, split="valid")


def test_translate_batches_and_attention_figure(one_thread):
    import matplotlib
    matplotlib.use("Agg")
    train_pairs, test_pairs = toy_pairs()
    d = s2s.make_dataset(train_pairs, test_pairs, vocabulary=Vocab)
    labkit.seed_everything(0)
    model = TinyTranslator(len(d.source_vocab), len(d.target_vocab))
    sentences = [s for s, _ in test_pairs]
    whole = s2s.translate(model, sentences, d.source_vocab, d.target_vocab, max_length=6)
    batched = s2s.translate(model, sentences, d.source_vocab, d.target_vocab, max_length=6, batch_size=7)
    assert whole == batched and len(whole) == len(sentences)
    decoded = s2s.greedy_decode(model, d.test[0][:3], max_length=6)
    attention = decoded.attention
    assert attention.shape[:2] == decoded.tokens.shape
    assert torch.allclose(attention.sum(-1), torch.ones(attention.shape[:2]))
    pad = d.test[0][:3, :attention.shape[-1]] == PAD
    assert (attention.masked_select(pad.unsqueeze(1).expand_as(attention)) == 0).all()
    fig = s2s.attention_figure(model, sentences[:3], d.source_vocab, d.target_vocab, max_length=6, title="t")
    assert len(fig.axes) == 4  # 2 columns x 2 rows, one left empty
    with pytest.raises(ValueError, match="attention"):
        s2s.attention_figure(Scripted(torch.full((len(d.source_vocab), 1), EOS)), ["w1"], d.source_vocab,
                             d.target_vocab, 1)
