"""Weight averages: EMA's warmed-up decay; SWA's plain mean of epoch-end weights, BatchNorm measured again, through
the loop."""

import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.checkpoint import checkpoint_weights, load_checkpoint, save_checkpoint  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402
from fer_edge.trainers.weight_average import ModelEMA, WeightAverage, recompute_batchnorm  # noqa: E402
from test_train_e2e import tiny_config  # noqa: E402
from torch import nn  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch


def test_ema_warms_its_decay_up_and_copies_integer_buffers():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.0)
    ema = ModelEMA(net, decay=0.999)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    net[1].num_batches_tracked.fill_(5)
    ema.update(net)
    first = 1 - 2 / 11  # the decay of update 1 is min(0.999, 2/11): early averages follow the model closely
    for p in ema.module.parameters():
        assert torch.allclose(p, torch.full_like(p, first)) and not p.requires_grad
    assert int(ema.module[1].num_batches_tracked) == 5
    for _ in range(5000):  # late updates use the full decay
        ema.update(net)
    assert abs(ema.module[0].weight[0, 0].item() - 1.0) < 0.01


def test_the_average_is_the_plain_mean_of_the_updates():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    avg = WeightAverage(net)
    values = (1.0, 2.0, 6.0)
    for v in values:
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(v)
        net[1].num_batches_tracked.fill_(int(v))
        avg.update(net)
    assert avg.count == 3
    for p in avg.module.parameters():
        assert torch.allclose(p, torch.full_like(p, 3.0)) and not p.requires_grad
    assert int(avg.module[1].num_batches_tracked) == 6  # integer buffers are copied, not averaged
    again = WeightAverage(net)
    again.load_state(avg.state())
    assert again.count == 3 and torch.equal(again.module[0].weight, avg.module[0].weight)


def test_recompute_batchnorm_measures_the_statistics_of_the_images_given():
    torch.manual_seed(0)
    net = nn.Sequential(nn.BatchNorm2d(1))
    net[0].running_mean.fill_(-7.0)
    momentum = net[0].momentum
    x = 3.0 + 2.0 * torch.randn(64, 1, 4, 4)
    assert recompute_batchnorm(net, x, batch_size=16, device="cpu") == 1
    per_batch = x.view(4, 16, 1, 4, 4)
    assert float(net[0].running_mean) == pytest.approx(float(per_batch.mean(dim=(1, 2, 3, 4)).mean()), abs=1e-5)
    expected_var = torch.stack([b.var(unbiased=True) for b in per_batch]).mean()  # unbiased per batch, as BN keeps
    assert float(net[0].running_var) == pytest.approx(float(expected_var), rel=1e-4)
    assert not net.training and net[0].momentum == momentum
    assert recompute_batchnorm(nn.Sequential(nn.Linear(2, 2)), x, 16, "cpu") == 0  # nothing to measure


def test_swa_through_the_loop_averages_the_epochs_from_swa_start_and_survives_resume(tmp_path):
    kw = dict(epochs=3, swa_start=2, schedule="constant", warmup_epochs=0.0, ema=True, ema_decay=0.9)
    run = tiny_config(tmp_path, output_dir=str(tmp_path / "part"), **kw)
    train(run, stop_after=2)
    after2 = load_checkpoint(tmp_path / "part" / "last.ckpt")
    assert after2["swa"]["count"] == 1
    summary = train(run, resume="auto")
    after3 = load_checkpoint(summary["last_checkpoint"])
    assert after3["swa"]["count"] == 2 and [h.get("swa_count") for h in summary["history"]] == [None, 1, 2]
    for key, raw2 in after2["state_dict"].items():
        if raw2.dtype.is_floating_point and "running_" not in key:  # BatchNorm statistics are measured again
            mean = (raw2 + after3["state_dict"][key]) / 2
            assert torch.allclose(after3["swa"]["state_dict"][key], mean, atol=1e-6), key
    assert checkpoint_weights(after3) is after3["swa"]["state_dict"]  # what export and init_from use
    assert checkpoint_weights(after3, use_ema=False) is after3["state_dict"]
    assert summary["best_accuracy"] > 0.9


def test_a_checkpoint_without_swa_still_gives_its_ema_weights(tmp_path):
    data = {"state_dict": {"w": torch.zeros(1)}, "ema_state_dict": {"w": torch.ones(1)}, "swa": None}
    save_checkpoint(tmp_path / "c.ckpt", data)
    assert float(checkpoint_weights(load_checkpoint(tmp_path / "c.ckpt"))["w"]) == 1.0


@pytest.mark.parametrize("start", [-1, 4])
def test_swa_start_outside_the_run_names_the_setting(tmp_path, start):
    with pytest.raises(InvalidInputError, match="swa_start"):
        tiny_config(tmp_path, epochs=3, swa_start=start)
