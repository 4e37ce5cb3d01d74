"""Benchmark: one training epoch of the seq2seq lab's GRU encoder–decoder, labkit's batched loop vs the source's.

The source followed the PyTorch tutorial "NLP From Scratch: Translation with a Sequence to Sequence
Network and Attention": it trained **one sentence pair at a time**, running the encoder word by word
and the decoder word by word (batch size 1), each pair teacher-forced with probability 0.5, a free-running
pair stopping at its first ``<eos>``, the loss summed over the steps, SGD with learning rate 0.01 for
the encoder and the decoder, and ``loss.item()`` read back after every pair.

labkit's loop is :func:`labkit.fit` with :class:`labkit.seq2seq.SequenceLoss` (teacher forcing 0.5
per sentence, masked mean token NLL) over padded batches of 64 pairs (``--batch-size``): the encoder runs ``nn.GRU`` once
over the packed batch, the decoder one step per time step for the whole batch.

Both loops train the *same* model (the tutorial's GRU encoder and GRU decoder, hidden size 256, SGD lr
0.01) on the training split of the max_length=10, English-prefix-filtered French→English pairs, in the
same process, with the same number of threads. A full source epoch takes minutes, so by default the
source loop is timed on ``--source-pairs`` pairs and its per-pair time scaled to the epoch (the per-pair
cost does not depend on how many pairs are timed); ``--source-pairs 0`` times a whole epoch.

    LABKIT_DATA=../shared/data python bench/seq2seq.py [--source-pairs 1000] [--threads N] [--batch-size 64]

Both loops run under the same thread policy (``--threads N``; else labkit's adaptive policy, which the
source loop applies before every step too). Also printed: the fraction of this machine's dense matmul throughput at the model's shapes that
labkit's loop reaches (bench/_throughput.py; ``seq2seq_fraction_of_dense_throughput: <x>``).

Last line: ``seq2seq_epoch_speedup_vs_source: <x>``.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labkit  # noqa: E402
from labkit import data, seq2seq, threads  # noqa: E402
from labkit.data import text  # noqa: E402
from labkit.seq2seq import EOS, PAD, SOS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _notebook import definitions  # noqa: E402
from _throughput import dense_work, fix_threads, fraction_of_dense  # noqa: E402

#: The lab's own vocabulary class (notebooks/seq2seq.ipynb; labkit has none: it is the lab's exercise 1).
Vocabulary = definitions("seq2seq").Vocabulary

HIDDEN, LR, TEACHER_FORCING, MAX_LENGTH, BATCH = 256, 0.01, 0.5, 10, 64


class EncoderRNN(nn.Module):
    """The tutorial's encoder: an embedding and one GRU layer."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden, padding_idx=PAD)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)


class DecoderRNN(nn.Module):
    """The tutorial's decoder: embedding, ReLU, one GRU layer, linear, log-softmax; one step per call."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden, padding_idx=PAD)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, previous: torch.Tensor, hidden: torch.Tensor):
        """previous (N,) tokens, hidden (1, N, H) -> log-probabilities (N, V), hidden."""
        x = torch.relu(self.embedding(previous)).unsqueeze(1)
        output, hidden = self.gru(x, hidden)
        return torch.log_softmax(self.out(output[:, 0]), dim=-1), hidden


class Translator(nn.Module):
    """The two modules behind labkit.seq2seq's model contract (encode / step) for the batched loop."""

    def __init__(self, source_size: int, target_size: int, hidden: int = HIDDEN):
        super().__init__()
        self.encoder = EncoderRNN(source_size, hidden)
        self.decoder = DecoderRNN(target_size, hidden)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        lengths = (src != PAD).sum(1).cpu()
        packed = pack_padded_sequence(self.encoder.embedding(src), lengths, batch_first=True, enforce_sorted=False)
        return self.encoder.gru(packed)[1][0]  # (N, H): each sentence's state at its own last word

    def step(self, previous: torch.Tensor, hidden: torch.Tensor):
        log_probs, hidden = self.decoder(previous, hidden.unsqueeze(0))
        return log_probs, hidden[0], None


def source_epoch(model: Translator, pairs: list[tuple[str, str]], source_vocab: Vocabulary,
                 target_vocab: Vocabulary) -> float:
    """The source's loop over sentence ``pairs``; returns the seconds it took."""
    encoder, decoder = model.encoder, model.decoder
    encoder_opt = torch.optim.SGD(encoder.parameters(), lr=LR)
    decoder_opt = torch.optim.SGD(decoder.parameters(), lr=LR)
    criterion = nn.NLLLoss()
    rng = random.Random(0)
    started = time.perf_counter()
    # the source turned every pair into two index tensors before its loop
    tensors = [(torch.tensor(source_vocab.encode(s)), torch.tensor(target_vocab.encode(t))) for s, t in pairs]
    for source, target in tensors:
        threads.adapt()  # the run's thread policy, as labkit.fit applies it (bench/_throughput.py)
        encoder_opt.zero_grad()
        decoder_opt.zero_grad()
        hidden = torch.zeros(1, 1, encoder.gru.hidden_size)
        encoder_outputs = torch.zeros(MAX_LENGTH, encoder.gru.hidden_size)  # kept for an attention decoder
        for i, word in enumerate(source):  # the encoder, one word at a time
            output, hidden = encoder.gru(encoder.embedding(word.view(1, 1)), hidden)
            encoder_outputs[i] = output[0, 0]
        previous, loss, forced = torch.tensor([SOS]), 0.0, rng.random() < TEACHER_FORCING
        for reference in target:  # the decoder, one word at a time
            log_probs, hidden = decoder(previous, hidden)
            loss = loss + criterion(log_probs, reference.view(1))
            if forced:
                previous = reference.view(1)
            else:
                previous = log_probs.topk(1)[1].view(1).detach()
                if previous.item() == EOS:
                    break
        loss.backward()
        encoder_opt.step()
        decoder_opt.step()
        loss.item() / len(target)  # the source printed a running average of this
    return time.perf_counter() - started


def labkit_epoch(model: Translator, train: tuple[torch.Tensor, torch.Tensor], batch_size: int = BATCH) -> float:
    """One epoch of labkit.fit over padded batches of ``batch_size``; returns the seconds it took.

    The process CPU time it took is left in ``labkit_epoch.cpu_seconds``.
    """
    started, cpu = time.perf_counter(), time.process_time()
    labkit.fit(model, train, epochs=1, batch_size=batch_size, loss=seq2seq.SequenceLoss(TEACHER_FORCING),
               optimizer=torch.optim.SGD(model.parameters(), lr=LR), progress_bar=False)
    labkit_epoch.cpu_seconds = time.process_time() - cpu
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-pairs", type=int, default=1000,
                        help="pairs the source loop is timed on, scaled to an epoch (0: a whole epoch)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads of both loops (0: labkit's adaptive thread policy in both)")
    parser.add_argument("--batch-size", type=int, default=BATCH,
                        help=f"sentence pairs per batch of labkit's loop (default {BATCH}; the quick profile uses 128)")
    args = parser.parse_args()
    fix_threads(args.threads or None)

    raw = data.load_pairs("eng-fra")
    pairs = text.prepare_pairs(raw.pairs, max_length=MAX_LENGTH, prefixes=text.ENG_PREFIXES, reverse=True)
    train_pairs, test_pairs = text.split_pairs(pairs, 0.1, 0)
    corpus = seq2seq.make_dataset(train_pairs, test_pairs, vocabulary=Vocabulary, names=("fra", "eng"))
    n = len(train_pairs)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {raw.info['source']} data: "
          f"{n} training pairs (max_length={MAX_LENGTH}, English prefixes, fra->eng), "
          f"vocabularies {len(corpus.source_vocab)} / {len(corpus.target_vocab)}, hidden {HIDDEN}")

    labkit.seed_everything(0)
    model = Translator(len(corpus.source_vocab), len(corpus.target_vocab))
    ours = labkit_epoch(model, corpus.train, args.batch_size)
    ours_cpu = labkit_epoch.cpu_seconds
    print(f"labkit loop (batches of {args.batch_size}, padded and masked): {ours:.2f} s/epoch")
    scratch = Translator(len(corpus.source_vocab), len(corpus.target_vocab))
    src, tgt = corpus.train
    work = dense_work(lambda: labkit_epoch(scratch, (src[:args.batch_size], tgt[:args.batch_size]), args.batch_size))
    fraction_of_dense("seq2seq", work, ours, -(-n // args.batch_size), ours_cpu)

    labkit.seed_everything(0)
    model = Translator(len(corpus.source_vocab), len(corpus.target_vocab))
    timed = n if args.source_pairs <= 0 else min(args.source_pairs, n)
    order = torch.randperm(n)[:timed].tolist()
    seconds = source_epoch(model, [train_pairs[i] for i in order], corpus.source_vocab, corpus.target_vocab)
    theirs = seconds / timed * n
    scaled = "" if timed == n else f" ({seconds:.2f} s for {timed} pairs, scaled to {n})"
    print(f"source loop (one pair at a time): {theirs:.2f} s/epoch{scaled}")
    print(f"seq2seq_epoch_speedup_vs_source: {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
