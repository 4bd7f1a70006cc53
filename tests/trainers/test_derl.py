"""DLP-DeRL: gradient routing (generator / discriminator / judge / residue classifier), losses decrease on a
synthetic set, end-to-end training with resume of the GAN state, ONNX export of the classifier path."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.checkpoint import load_checkpoint  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.losses import LossConfig, build_criterion  # noqa: E402
from fer_edge.trainers.models import create_model, train_outputs  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

_one_thread = one_thread_fixture()

SIDE = 16


def synthetic_faces(n_per_class=24, classes=3, seed=0):
    """"Faces" = a per-person random texture; class 0 (neutral) adds nothing, class c adds a bright bar in row band c
    (the "expression"). Returns images in [-1, 1] (n, 1, SIDE, SIDE) and labels."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c in range(classes):
        base = torch.rand(n_per_class, 1, SIDE, SIDE, generator=g) * 0.6 - 0.8
        if c:
            band = slice(4 * c, 4 * c + 3)
            base[:, :, band, 3:13] += 1.2
        xs.append(base.clamp(-1, 1))
        ys.append(torch.full((n_per_class,), c))
    return torch.cat(xs), torch.cat(ys)


def _model_and_criterion(**loss_kw):
    torch.manual_seed(0)
    model = create_model("derl", 3, 1, width=8, branch_width=16, hidden=16)
    crit = build_criterion(LossConfig(derl=True, **loss_kw), 3, feature_dim=model.feature_dim, in_chans=1)
    return model, crit


def test_each_network_gets_only_its_own_gradient():
    x, y = synthetic_faces(8)
    model, crit = _model_and_criterion()

    def grads_from(term):
        model.zero_grad(set_to_none=True)
        crit.zero_grad(set_to_none=True)
        out = train_outputs(model, x)
        _, parts = crit(out, y)
        gan = crit.gan
        gen, xin = out["generated"], out["derl_input"]
        if term == "ce":
            loss = torch.nn.functional.cross_entropy(out["logits"], y)
        else:
            loss, _ = gan(gen, xin, y)
        loss.backward()

        def moved(module):
            return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

        return {"generator": moved(model.generator), "classifier": moved(model.classifier) or moved(model.fuse),
                "discriminator": moved(gan.discriminator), "judge": moved(gan.judge)}

    # the classification loss trains the residue classifier, never the generator (residue detached)
    assert grads_from("ce") == {"generator": False, "classifier": True, "discriminator": False, "judge": False}
    # the GAN objective trains generator, discriminator and judge, never the classifier
    assert grads_from("gan") == {"generator": True, "classifier": False, "discriminator": True, "judge": True}


def test_discriminator_and_judge_are_frozen_for_the_generator_terms():
    x, y = synthetic_faces(8)
    model, crit = _model_and_criterion(lambda_judge=0.0)
    gan = crit.gan
    out = train_outputs(model, x)
    gen = out["generated"]
    # the discriminator's own loss uses the generated images detached: its gradient is the same with or without
    # the generator's adversarial term
    torch.manual_seed(1)
    gan.weights.update(adv=0.0, neutral=0.0, idt=0.0, rec=0.0)
    gan.zero_grad()
    gan(gen, x, y)[0].backward(retain_graph=True)
    d_only = [p.grad.clone() for p in gan.discriminator.parameters()]
    gan.weights.update(adv=1.0, neutral=1.0, idt=10.0, rec=1.0)
    gan.zero_grad()
    gan(gen, x, y)[0].backward()
    for a, p in zip(d_only, gan.discriminator.parameters()):
        torch.testing.assert_close(p.grad, a)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in gan.judge.parameters())  # λ_judge = 0


def test_generator_and_classifier_losses_decrease_on_a_synthetic_set():
    x, y = synthetic_faces(24)
    model, crit = _model_and_criterion(locality=True, lp_k=5)
    params = list(model.parameters()) + [p for g in crit.parameter_groups(2e-3) for p in g["params"]]
    opt = torch.optim.Adam(params, lr=2e-3, betas=(0.5, 0.999))
    model.train()
    crit.train()
    history = []
    for _ in range(40):
        out = train_outputs(model, x)
        loss, parts = crit(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(parts)

    def mean(key, sl):
        return float(np.mean([h[key] for h in history[sl]]))

    first, last = slice(0, 5), slice(-5, None)
    assert mean("ce", last) < mean("ce", first) * 0.8  # residue classifier learns
    assert mean("gan_idt", last) < mean("gan_idt", first) * 0.8  # generator keeps neutral faces
    assert mean("gan_rec", last) < mean("gan_rec", first)  # and the person
    assert mean("judge_ce", last) < mean("judge_ce", first)  # the in-run judge learns from real images
    assert all(np.isfinite(h["total"]) for h in history) and "lp" in history[-1]


def test_config_errors_are_clear():
    with pytest.raises(InvalidInputError, match="derl_neutral"):
        build_criterion(LossConfig(derl=True, derl_neutral=5), 3, in_chans=1)
    crit = build_criterion(LossConfig(derl=True), 3, in_chans=1)
    with pytest.raises(InvalidInputError, match="derl"):
        crit({"logits": torch.zeros(2, 3)}, torch.tensor([0, 1]))


def _npz(path):
    x, y = synthetic_faces(24)
    u8 = ((x[:, 0] + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    idx = np.random.default_rng(0).permutation(len(y))
    u8, yy = u8[idx], y.numpy()[idx]
    np.savez(path, x_train=u8[:56], y_train=yy[:56], x_val=u8[56:], y_val=yy[56:],
             class_names=np.array(["neutral", "smile", "frown"]))
    return path


def _cfg(tmp_path, out, **kw):
    base = dict(data=str(_npz(tmp_path / "faces.npz")), input_size=(SIDE, SIDE), arch="derl",
                model_kwargs={"width": 8, "branch_width": 16, "hidden": 16}, loss="dlp_derl",
                loss_kwargs={"lp_k": 4}, optimizer="ranger", lr=2e-3, grad_centralization=True, lookahead_k=3,
                batch_size=16, epochs=3, warmup_epochs=0.5, hflip=0.0, rotate=0.0, scale=0.0, translate=0.0,
                erasing=0.0, precision="fp32", threads=1, progress=False, targets="hard",
                output_dir=str(tmp_path / out), ema=True, ema_decay=0.9)
    base.update(kw)
    return TrainConfig(**base)


def test_train_end_to_end_resume_restores_gan_and_lookahead_state(tmp_path):
    full = train(_cfg(tmp_path, "full"))
    part = _cfg(tmp_path, "part")
    train(part, stop_after=2)
    ck = load_checkpoint(tmp_path / "part" / "last.ckpt")
    assert any(k.startswith("gan.discriminator.") for k in ck["criterion"])  # the GAN's own state is saved
    assert any("slow" in s for s in ck["optimizer"]["state"].values())  # and Lookahead's slow weights
    resumed = train(part, resume="auto")
    a, b = load_checkpoint(full["last_checkpoint"]), load_checkpoint(resumed["last_checkpoint"])
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k].float(), v.float(), atol=1e-6, rtol=1e-5, msg=k)
    for k, v in a["criterion"].items():
        if v.is_floating_point():
            torch.testing.assert_close(b["criterion"][k], v, atol=1e-6, rtol=1e-5, msg=k)


def test_export_classifier_path_to_onnx_with_parity(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from fer_edge.engines.export import onnx_from_checkpoint

    summary = train(_cfg(tmp_path, "run", epochs=1))
    res = onnx_from_checkpoint(summary["best_checkpoint"], tmp_path / "derl.onnx")
    assert 0.0 <= res.max_abs_diff < 1e-3  # ORT vs torch on probe inputs (export fails above its atol)
    import onnx

    graph = onnx.load(str(tmp_path / "derl.onnx")).graph
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim][1:] == [3]
    assert not any(n.op_type == "Tanh" for n in graph.node)  # the image head is not part of the classifier path
