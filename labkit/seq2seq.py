"""Plumbing of the seq2seq lab: special tokens, padded batches, masked token loss, greedy decoding, BLEU.

The lab notebook (``notebooks/seq2seq.ipynb``) writes the vocabulary and the models: the GRU
cell, the encoder, the decoders with and without attention. Everything else a translation experiment needs lives here, so
that the notebook stays about the models:

* The special tokens ``<pad>``, ``<sos>``, ``<eos>``, ``<unk>`` (:data:`PAD` ... :data:`UNK`, indices
  0–3). The vocabulary itself (words → indices) is the lab's first exercise, so labkit has none:
  :class:`VocabularyLike` says what a vocabulary must offer, and :func:`make_dataset` takes the
  notebook's class (``vocabulary=``).
* :func:`encode_batch` / :func:`make_dataset` turn sentences into one padded ``LongTensor``
  ``(N, L)`` per side, so :func:`labkit.fit` can batch them by index like images;
  :func:`decode` / :func:`decode_batch` turn indices back into words.
* :class:`SequenceLoss` is the ``loss(model, x, y)`` for :func:`labkit.fit`: it runs the decoder
  over the target with teacher forcing and returns the masked mean token NLL and the token accuracy
  (:func:`sequence_nll`).
* :func:`greedy_decode` / :func:`translate` decode a batch greedily; :func:`bleu` scores a corpus
  with sacrebleu (:data:`NEAR_ZERO_BLEU`: below it, scores rank nothing);
  :func:`translations_table` lays out each model's translations for a report table
  (:func:`show_translations` prints them, for scripts); :func:`attention_figure` draws attention heat-maps.

The model contract
------------------
A translation model is an ``nn.Module`` with two methods (see the lab notebook)::

    state = model.encode(src)                          # src: (N, S) padded source indices
    log_probs, state, attention = model.step(prev, state)
    #   prev: (N,) the previous target token (SOS at the start)
    #   log_probs: (N, V) log-probabilities of the next target token
    #   attention: (N, S) attention weights over the source, or None

``state`` is whatever the model needs between steps (hidden state, encoder outputs, source mask):
a tensor or a tuple of tensors, each with the batch as its **first** dimension, so that training can
drop the sentences that have ended (:func:`select_rows`). All loops here are over time steps only;
every step works on the whole batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence

import torch
from torch import nn

from labkit.data.text import record_use
from labkit.device import model_device
from labkit.train import eval_mode

if TYPE_CHECKING:
    import pandas as pd

    from labkit.train import History

#: Indices of the special tokens, the same in every vocabulary.
PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS: tuple[str, ...] = ("<pad>", "<sos>", "<eos>", "<unk>")


class VocabularyLike(Protocol):
    """What labkit.seq2seq needs of a vocabulary; the lab's students write the class (its exercise 1).

    labkit holds no vocabulary of its own on purpose: mapping words to indices is what the lab teaches,
    and a class here would be a solution students could import. A vocabulary class is called as
    ``cls(name, min_count)``; the instance has

    * ``index2word``: a list, the word of each index; indices 0–3 are :data:`SPECIALS`
      (:data:`PAD`, :data:`SOS`, :data:`EOS`, :data:`UNK`), the same in every vocabulary;
    * ``add_sentence(sentence)``: counts the space-separated words of ``sentence`` (a word gets an
      index once it has been seen ``min_count`` times);
    * ``encode(sentence) -> list[int]``: the words' indices (:data:`UNK` for a word without one),
      then :data:`EOS`;
    * ``len(vocab)``: the number of indices, special tokens included (the embedding / output size).
    """

    index2word: list[str]

    def add_sentence(self, sentence: str) -> None: ...

    def encode(self, sentence: str) -> list[int]: ...

    def __len__(self) -> int: ...


def _check_vocabulary(vocab: Any) -> None:
    missing = [name for name in ("index2word", "add_sentence", "encode", "__len__") if not hasattr(vocab, name)]
    if missing:
        raise TypeError(f"{type(vocab).__name__} is not a vocabulary: it lacks {', '.join(missing)} "
                        "(see labkit.seq2seq.VocabularyLike)")
    if list(vocab.index2word[:len(SPECIALS)]) != list(SPECIALS):
        raise ValueError(f"{type(vocab).__name__}.index2word must start with the special tokens {list(SPECIALS)} "
                         f"(indices 0-3), got {list(vocab.index2word[:len(SPECIALS)])}")


def decode(vocab: VocabularyLike, indices: Iterable[int]) -> str:
    """The words of ``indices`` up to the first :data:`EOS`, skipping :data:`PAD` and :data:`SOS`.

    Words are looked up in ``vocab.index2word``; an index outside it raises ``IndexError``.
    """
    words = []
    for index in indices:
        index = int(index)
        if index == EOS:
            break
        if index in (PAD, SOS):
            continue
        words.append(vocab.index2word[index])
    return " ".join(words)


def encode_batch(vocab: VocabularyLike, sentences: Sequence[str], length: int | None = None) -> torch.Tensor:
    """Sentences as one ``LongTensor (N, L)``: each row ``vocab.encode(sentence)`` (the word indices and
    :data:`EOS`), then :data:`PAD`.

    ``L`` is ``length``, or the longest encoded sentence. A sentence that
    does not fit in ``length``, or an index outside the vocabulary, raises ``ValueError``.
    """
    rows = [[int(index) for index in vocab.encode(s)] for s in sentences]
    size = len(vocab)
    bad = next((index for row in rows for index in row if not 0 <= index < size), None)
    if bad is not None:
        raise ValueError(f"{type(vocab).__name__}.encode gave index {bad}, outside the vocabulary's {size} indices")
    longest = max((len(r) for r in rows), default=1)
    width = longest if length is None else length
    if width < longest:
        raise ValueError(f"a sentence needs {longest} tokens (with EOS) but length={length}; "
                         f"raise length or filter the pairs with a smaller max_length")
    out = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def decode_batch(vocab: VocabularyLike, tokens: torch.Tensor) -> list[str]:
    """One sentence per row of ``tokens (N, L)`` (see :func:`decode`)."""
    return [decode(vocab, row) for row in tokens.tolist()]


def padding_mask(tokens: torch.Tensor) -> torch.Tensor:
    """``True`` where ``tokens`` is a real token, ``False`` on :data:`PAD`."""
    return tokens != PAD


def trim(tokens: torch.Tensor) -> torch.Tensor:
    """``tokens (N, L)`` without the columns that are padding in every row."""
    longest = int(padding_mask(tokens).sum(1).max()) if tokens.numel() else 0
    return tokens[:, :max(longest, 1)]


@dataclass
class TranslationData:
    """The prepared data of one translation experiment (see :func:`make_dataset`).

    ``train`` and ``test`` are ``(source, target)`` pairs of padded index
    tensors, ready for :func:`labkit.fit`; ``train_pairs`` / ``test_pairs``
    keep the sentences (for BLEU and for printing translations).
    """

    source_vocab: VocabularyLike
    target_vocab: VocabularyLike
    train_pairs: list[tuple[str, str]]
    test_pairs: list[tuple[str, str]]
    train: tuple[torch.Tensor, torch.Tensor] = field(repr=False)
    test: tuple[torch.Tensor, torch.Tensor] = field(repr=False)

    def summary(self) -> dict[str, int]:
        """Training and test pair counts and vocabulary sizes (special tokens included)."""
        return {"train_pairs": len(self.train_pairs), "test_pairs": len(self.test_pairs),
                "source_vocab": len(self.source_vocab), "target_vocab": len(self.target_vocab)}


def make_dataset(train_pairs: Sequence[tuple[str, str]], test_pairs: Sequence[tuple[str, str]], *,
                 vocabulary: Callable[[str, int], VocabularyLike], min_count: int = 1,
                 names: tuple[str, str] = ("source", "target"),
                 device: str | torch.device = "cpu") -> TranslationData:
    """Vocabularies from the **training** pairs only, and padded index tensors for both splits.

    Pairs are ``(source, target)`` sentences, already normalised (see
    ``labkit.data.text.prepare_pairs``). ``vocabulary`` is the vocabulary
    class (the lab's own; see :class:`VocabularyLike`): each side gets
    ``vocabulary(name, min_count)`` fed every training sentence of that side
    with ``add_sentence``. Words of the test split that the training split
    does not have become ``<unk>``: building the vocabulary from all pairs
    would leak the test sentences into the model.

    Raises ``ValueError`` (no pairs, a ``min_count`` below 1, specials not at
    0–3) or ``TypeError`` (``vocabulary`` not a class of vocabularies) before any work.
    """
    if not callable(vocabulary):
        raise TypeError(f"vocabulary must be a vocabulary class (called as vocabulary(name, min_count)), "
                        f"got {type(vocabulary).__name__}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a whole number >= 1, got {min_count!r}")
    if not train_pairs or not test_pairs:
        raise ValueError(f"need training and test pairs, got {len(train_pairs)} and {len(test_pairs)}")
    vocabs = vocabulary(names[0], min_count), vocabulary(names[1], min_count)
    for vocab in vocabs:
        _check_vocabulary(vocab)
    for pair in train_pairs:
        for vocab, sentence in zip(vocabs, pair):
            vocab.add_sentence(sentence)
    for vocab in vocabs:
        _check_vocabulary(vocab)

    def tensors(pairs):
        return tuple(encode_batch(vocab, [pair[side] for pair in pairs]).to(device)
                     for side, vocab in enumerate(vocabs))

    record_use(len(train_pairs), len(test_pairs))  # the report's provenance: the pairs actually used
    return TranslationData(*vocabs, list(train_pairs), list(test_pairs), tensors(train_pairs), tensors(test_pairs))


# ------------------------------------------------------------------------------ loss


def select_rows(state: Any, n: int) -> Any:
    """The first ``n`` rows of a decoder ``state``: a tensor, None, or a tuple/list of them (nested).

    Every tensor of a state must have the batch as its first dimension
    (``(N, H)`` hidden states, ``(N, S, H)`` encoder outputs, ``(N, S)`` masks).
    """
    if state is None:
        return None
    if torch.is_tensor(state):
        return state[:n]
    if isinstance(state, (tuple, list)):
        return type(state)(select_rows(part, n) for part in state)
    raise TypeError(f"a decoder state must be tensors, None, or tuples/lists of them; got {type(state).__name__}")


def _check_rows(state: Any, n: int) -> None:
    if torch.is_tensor(state) and (state.dim() == 0 or state.shape[0] != n):
        raise ValueError(f"a tensor of the decoder state has shape {tuple(state.shape)}, but the batch has {n} "
                         "sentences: keep the batch as the first dimension of every state tensor "
                         "(e.g. a GRU hidden state as (N, H), not nn.GRU's (1, N, H))")
    if isinstance(state, (tuple, list)):
        for part in state:
            _check_rows(part, n)


def sequence_nll(model: nn.Module, source: torch.Tensor, target: torch.Tensor,
                 teacher_forcing: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token NLL and token accuracy of ``model`` translating ``source`` into ``target``.

    ``source`` and ``target`` are padded index tensors ``(N, S)`` and
    ``(N, T)``. Only real target tokens (up to and including each EOS) count;
    padding contributes neither to the loss nor to the accuracy (averaging
    over padding too would reward the model for easy, meaningless positions).

    At each step the decoder gets the previous *reference* token (teacher
    forcing) or its own previous prediction. As in the source, the choice is
    made once per sentence: each sentence is teacher-forced with probability
    ``teacher_forcing`` (1.0: always; 0.0: never).

    Like a packed sequence, the batch is sorted by target length and shrinks
    as sentences end: step ``t`` decodes only the sentences that still have a
    token ``t``, so no work is spent on padding (the decoder state is cut with
    :func:`select_rows`).
    """
    if not 0.0 <= teacher_forcing <= 1.0:
        raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing!r}")
    lengths = padding_mask(target).sum(1)
    lengths, order = lengths.sort(descending=True, stable=True)
    source, target = source[order], target[order]
    lengths = lengths.tolist()  # one host sync per batch: the batch size of every step
    n = len(lengths)
    state = model.encode(trim(source))
    _check_rows(state, n)
    forced = None
    if 0.0 < teacher_forcing < 1.0:
        forced = torch.rand(n, device=target.device) < teacher_forcing
    prev = torch.full((n,), SOS, dtype=torch.long, device=target.device)
    nll = correct = None
    for t in range(lengths[0] if lengths else 0):
        active = sum(1 for length in lengths if length > t)
        if active < len(prev):
            prev, state = prev[:active], select_rows(state, active)
        log_probs, state, _ = model.step(prev, state)
        reference = target[:active, t]
        step_nll = -log_probs.gather(1, reference.unsqueeze(1)).sum()
        guess = log_probs.detach().argmax(-1)
        step_correct = (guess == reference).sum()
        nll = step_nll if nll is None else nll + step_nll
        correct = step_correct if correct is None else correct + step_correct
        if teacher_forcing == 1.0:
            prev = reference
        elif forced is None:
            prev = guess
        else:
            prev = torch.where(forced[:active], reference, guess)
    if nll is None:
        raise ValueError("the target batch is empty (only padding)")
    tokens = sum(lengths)
    return nll / tokens, correct.float() / tokens


class SequenceLoss:
    """``loss(model, x, y)`` for :func:`labkit.fit`: masked mean token NLL and ``{"acc": token accuracy}``.

    In training, each sentence is teacher-forced with probability
    ``teacher_forcing`` (change the attribute between epochs for a schedule).
    In evaluation (``model.eval()``) the decoder is always teacher-forced, so
    the test loss and accuracy measure next-token prediction given the
    reference prefix, comparable across epochs; :func:`bleu` measures free
    (greedy) translation. See :func:`sequence_nll`.
    """

    def __init__(self, teacher_forcing: float = 1.0) -> None:
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing!r}")
        self.teacher_forcing = float(teacher_forcing)

    def __call__(self, model: nn.Module, source: torch.Tensor, target: torch.Tensor):
        ratio = self.teacher_forcing if model.training else 1.0
        loss, acc = sequence_nll(model, source, target, ratio)
        return loss, {"acc": acc}

    def __repr__(self) -> str:
        return f"SequenceLoss(teacher_forcing={self.teacher_forcing})"


# --------------------------------------------------------------------------- decoding


@dataclass
class Decoded:
    """Greedy decoding of a batch: ``tokens (N, T)`` (PAD after each EOS) and ``attention (N, T, S)`` or None."""

    tokens: torch.Tensor
    attention: torch.Tensor | None


@torch.no_grad()
def greedy_decode(model: nn.Module, source: torch.Tensor, max_length: int) -> Decoded:
    """Translate a batch greedily: at each step feed back the most likely token.

    Stops after ``max_length`` tokens or when every sentence has produced
    :data:`EOS`. Runs in eval mode (dropout off) and restores the mode.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    with eval_mode(model):
        source = trim(source)
        state = model.encode(source)
        n = source.shape[0]
        prev = torch.full((n,), SOS, dtype=torch.long, device=source.device)
        finished = torch.zeros(n, dtype=torch.bool, device=source.device)
        tokens, attention = [], []
        for _ in range(max_length):
            log_probs, state, weights = model.step(prev, state)
            prev = log_probs.argmax(-1).masked_fill(finished, PAD)
            tokens.append(prev)
            if weights is not None:
                attention.append(weights)
            finished = finished | (prev == EOS)
            if bool(finished.all()):
                break
    return Decoded(torch.stack(tokens, 1), torch.stack(attention, 1) if attention else None)


def translate(model: nn.Module, sentences: Sequence[str], source_vocab: VocabularyLike, target_vocab: VocabularyLike,
              max_length: int, batch_size: int = 512) -> list[str]:
    """Greedy translations of ``sentences`` (normalised source text), in batches."""
    device = model_device(model)
    outputs: list[str] = []
    for start in range(0, len(sentences), batch_size):
        source = encode_batch(source_vocab, sentences[start:start + batch_size]).to(device)
        outputs += decode_batch(target_vocab, greedy_decode(model, source, max_length).tokens.cpu())
    return outputs


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0–100) of ``hypotheses`` against one reference each, computed by sacrebleu.

    sacrebleu's defaults (13a tokenisation, 4-grams, exponential brevity
    penalty, no smoothing at corpus level). The lab's sentences are already
    normalised and split into space-separated tokens (``"i m cold ."``), on
    which the 13a tokeniser changes nothing, so sacrebleu's warning about
    tokenised input is switched off (``force=True``).
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("BLEU needs at least one sentence")
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], force=True).score)


#: A corpus BLEU (0–100) below this means next to nothing was translated right (a handful of matching
#: 4-grams by chance): such scores are reported, but no model is called the best on them (a table
#: highlights no best BLEU, a summary says that all are near zero).
NEAR_ZERO_BLEU = 1.0


def evaluate_bleu(model: nn.Module, dataset: TranslationData, max_length: int, split: str = "test"
                  ) -> tuple[float, list[str]]:
    """Greedy-translate a split of ``dataset`` and score it: ``(BLEU, translations)``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    pairs = dataset.test_pairs if split == "test" else dataset.train_pairs
    outputs = translate(model, [s for s, _ in pairs], dataset.source_vocab, dataset.target_vocab, max_length)
    return bleu(outputs, [t for _, t in pairs]), outputs


def show_translations(sources: Sequence[str], references: Sequence[str], outputs: Sequence[str]) -> str:
    """Print each example as ``> source``, ``= reference``, ``< output`` (and return the text)."""
    if not len(sources) == len(references) == len(outputs):
        raise ValueError("sources, references and outputs must have the same length")
    text = "\n\n".join(f"> {s}\n= {r}\n< {o}" for s, r, o in zip(sources, references, outputs))
    print(text)
    return text


def translations_table(sources: Sequence[str], references: Sequence[str], outputs: Mapping[str, Sequence[str]],
                       *, source: str = "source", reference: str = "reference") -> "pd.DataFrame":
    """Translations as a table for :func:`labkit.show_table` (a report keeps tables, where a printed log
    can be left out): one row per sentence (index ``#``, 1, 2, ...), the columns ``source`` and
    ``reference`` (header texts as given, e.g. ``labkit.tr(...)``), then one column per model
    (``outputs``: ``{model name: its translations}``, each in the order of ``sources``).

    Raises ValueError when a list's length differs from ``sources``' or a model name repeats a header.
    """
    import pandas as pd

    if len(references) != len(sources):
        raise ValueError(f"{len(sources)} sources but {len(references)} references")
    for name, translations in outputs.items():
        if len(translations) != len(sources):
            raise ValueError(f"{len(sources)} sources but {len(translations)} translations from {name!r}")
        if name in (source, reference):
            raise ValueError(f"model name {name!r} is also a column header; give the headers other texts")
    columns = {source: list(sources), reference: list(references), **{name: list(out) for name, out in outputs.items()}}
    return pd.DataFrame(columns, index=pd.RangeIndex(1, len(sources) + 1, name="#"))


def attention_figure(model: nn.Module, sentences: Sequence[str], source_vocab: VocabularyLike,
                     target_vocab: VocabularyLike, max_length: int, columns: int = 2, title: str | None = None):
    """Attention heat-maps (output words × source words) of the greedy translations of ``sentences``.

    The model's ``step`` must return attention weights. Returns the figure.
    """
    import math

    import matplotlib.pyplot as plt

    from labkit.plots import finish

    if not sentences:
        raise ValueError("attention_figure needs at least one sentence")
    source = encode_batch(source_vocab, sentences).to(model_device(model))
    decoded = greedy_decode(model, source, max_length)
    if decoded.attention is None:
        raise ValueError("this model's step returns no attention weights (attention is None)")
    rows = math.ceil(len(sentences) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(sentences):]:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:len(sentences)]):
        src_words = sentences[i].split() + [SPECIALS[EOS]]
        out = decoded.tokens[i].tolist()
        steps = out.index(EOS) + 1 if EOS in out else len(out)
        out_words = [target_vocab.index2word[j] for j in out[:steps]]
        weights = decoded.attention[i, :steps, :len(src_words)].cpu().numpy()
        ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(src_words)), src_words, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(out_words)), out_words, fontsize=8)
        ax.grid(False)
    return finish(fig, title)

