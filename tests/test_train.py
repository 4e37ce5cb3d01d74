import pytest
import torch
from torch import nn

import labkit
from labkit.train import History, classify, evaluate, fit, standardize


def toy_data(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    y = (x[:, 0, 0, 0] > 127).long()  # learnable: is the first pixel bright?
    return (x, y), (x[:200], y[:200])


def make(seed=0, dropout=0.2):
    labkit.seed_everything(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 2))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def run(epochs, **kwargs):
    train, test = toy_data()
    model, opt = make()
    history = fit(model, train, test, epochs=epochs, batch_size=64, loss=classify(), optimizer=opt,
                  progress_bar=False, **kwargs)
    return model, history


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_history_has_train_and_test_metrics_per_epoch():
    _, h = run(3)
    assert h.epochs == 3 and h["epoch"] == [1, 2, 3]
    assert set(h.keys()) >= {"train_loss", "train_acc", "test_loss", "test_acc", "seconds"}
    assert h.last("test_acc") > 0.8  # the toy task is learnable
    assert list(h.frame().columns)[:2] == ["epoch", "train_loss"]


def test_cpu_training_is_deterministic():
    m1, h1 = run(2)
    m2, h2 = run(2)
    assert same_weights(m1, m2)
    assert [r["test_loss"] for r in h1.rows] == [r["test_loss"] for r in h2.rows]


def test_resume_equals_uninterrupted_run(tmp_path):
    full_model, full = run(4)
    ckpt = tmp_path / "ck.pt"
    run(2, checkpoint=ckpt)  # "interrupted" after epoch 2
    train, test = toy_data()
    model, opt = make(seed=123)  # a fresh process would build a new model: the checkpoint restores it
    resumed = fit(model, train, test, epochs=4, batch_size=64, loss=classify(), optimizer=opt,
                  progress_bar=False, checkpoint=ckpt, resume=True)
    assert resumed["epoch"] == [1, 2, 3, 4]
    assert same_weights(model, full_model)
    assert [r["test_acc"] for r in resumed.rows] == [r["test_acc"] for r in full.rows]
    # resuming a finished run trains nothing more
    again = fit(model, train, test, epochs=4, batch_size=64, loss=classify(), optimizer=opt,
                progress_bar=False, checkpoint=ckpt, resume=True)
    assert again.epochs == 4 and same_weights(model, full_model)


def test_step_mode_and_checkpoint_with_two_optimizers(tmp_path):
    train, _ = toy_data()
    labkit.seed_everything(0)
    a, b = nn.Linear(64, 1), nn.Linear(64, 1)
    model = nn.ModuleDict({"a": a, "b": b})
    opts = {"a": torch.optim.SGD(a.parameters(), 0.1), "b": torch.optim.SGD(b.parameters(), 0.1)}

    def step(m, x, y):
        x = x.flatten(1)
        out = {}
        for key in ("a", "b"):
            loss = (m[key](x).squeeze(1) - y.float()).pow(2).mean()
            opts[key].zero_grad()
            loss.backward()
            opts[key].step()
            out[f"{key}_loss"] = loss
        return out

    h = fit(model, train, epochs=2, batch_size=100, step=step, optimizer=opts, progress_bar=False,
            checkpoint=tmp_path / "gan.pt")
    assert {"train_a_loss", "train_b_loss"} <= set(h.keys())
    assert set(torch.load(tmp_path / "gan.pt", weights_only=False)["optimizers"]) == {"a", "b"}


def test_fit_argument_errors():
    train, _ = toy_data()
    model, opt = make()
    with pytest.raises(ValueError, match="either loss"):
        fit(model, train, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="needs an optimizer"):
        fit(model, train, epochs=1, batch_size=8, loss=classify())
    with pytest.raises(ValueError, match="needs checkpoint"):
        fit(model, train, epochs=1, batch_size=8, loss=classify(), optimizer=opt, resume=True)


def test_classify_variants_agree_on_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    model = nn.Identity()
    ce, m_ce = classify()(model, logits, y)
    nll, m_nll = classify(nn.NLLLoss(), log_softmax=True)(model, logits, y)
    mse, m_mse = classify(nn.MSELoss())(model, logits, y)
    assert torch.allclose(ce, nll)
    assert m_ce["acc"] == m_nll["acc"] == m_mse["acc"] == pytest.approx(2 / 3)
    assert mse == pytest.approx(((logits - nn.functional.one_hot(y, 2)) ** 2).mean().item())


def test_evaluate_and_standardize():
    (x, y), _ = toy_data()
    prep = standardize(0.5, 0.25)
    xs, _ = prep(x[:4], y[:4], False)
    assert torch.allclose(xs, (x[:4].float() / 255 - 0.5) / 0.25)
    model, _ = make()
    out = evaluate(model, (x, y), classify(), batch_size=128)
    assert set(out) == {"test_loss", "test_acc"}


def test_history_truncated_and_final():
    h = History("r", [{"epoch": e, "train_loss": 1.0 / e, "seconds": 1.0} for e in (1, 2, 3)], {"fid": 2.0})
    short = h.truncated(2)
    assert short.epochs == 2 and short.last("train_loss") == 0.5
    assert h.final() == {"train_loss": pytest.approx(1 / 3), "seconds": 3.0, "fid": 2.0}
    with pytest.raises(ValueError):
        h.truncated(5)
    with pytest.raises(KeyError, match="available"):
        h.last("nope")


def test_eval_mode_restores_every_submodules_own_mode_also_after_an_error():
    from labkit.train import eval_mode

    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.BatchNorm1d(2))
    net.train()
    net[2].eval()  # a frozen batch norm inside a training model
    with eval_mode(net) as same:
        assert same is net and not any(m.training for m in net.modules())
    assert net.training and net[1].training and not net[2].training
    with pytest.raises(RuntimeError):
        with eval_mode(net):
            raise RuntimeError("boom")
    assert net.training and not net[2].training


def test_curves_gap_is_zero_for_identical_curves_and_the_largest_difference_otherwise():
    def run(losses, accs):
        return labkit.History("run", [{"epoch": epoch, "train_loss": loss, "test_loss": loss + 0.1, "train_acc": acc}
                                      for epoch, (loss, acc) in enumerate(zip(losses, accs), 1)])

    same = run([2.0, 1.5], [0.1, 0.3])
    assert labkit.curves_gap(same, run([2.0, 1.5], [0.1, 0.3])) == 0.0
    assert labkit.curves_gap(same, run([2.0, 1.25], [0.1, 0.4])) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="epochs"):
        labkit.curves_gap(same, run([2.0], [0.1]))
    with pytest.raises(ValueError, match="share none"):
        labkit.curves_gap(same, same, keys=("bleu",))
