"""Heads and special models: ARM batch independence, Ad-Corre shapes, heads on EdgeNet, ESR votes, published sizes."""

import pytest

torch = pytest.importorskip("torch")

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.models import attach_head, create_model, train_outputs  # noqa: E402
from fer_edge.trainers.models.esr import combine_votes  # noqa: E402

pytestmark = pytest.mark.torch


_one_thread = one_thread_fixture()


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["arm_edgenet", "arm_mobilenetv3_small"])
def test_arm_batch_of_one_equals_same_sample_in_a_batch(name):
    torch.manual_seed(0)
    model = create_model(name, 7, 1)
    model.train()
    for _ in range(3):  # fill the EMA of the generic component
        train_outputs(model, torch.randn(4, 1, 48, 48))
    model.eval()
    x = torch.randn(5, 1, 48, 48)
    with torch.no_grad():
        batch = model(x)
        single = model(x[2:3])
    assert torch.allclose(single[0], batch[2], atol=1e-5)


def test_arm_generic_ema_tracks_training_batches():
    model = create_model("arm_edgenet", 3, 1)
    head = model.head
    assert not bool(head.ema_ready)
    train_outputs(model, torch.randn(4, 1, 48, 48))
    assert bool(head.ema_ready) and head.generic_ema.abs().sum() > 0


def test_arm_resnet18_published_geometry_and_size():
    model = create_model("arm_resnet18", 7, 3)
    head = model.head
    assert (head.r, head.groups, head.out) == (16, 2, 11)
    assert head.dealbino.kernel_size == (32, 32) and head.dealbino.stride == (8, 8)
    # ResNet-18 trunk 11,176,512 + de-albino 1024 + BN 4 + alpha 1 + fc 121·7+7 (methods.md §2.2)
    assert _count(model) == 11_176_512 + 1024 + 4 + 1 + 854


def test_adcorre_xception_matches_published_parameter_count():
    # methods.md §1.2: Keras k=7, C=7 model = 24,545,839 incl. 54,528 non-trainable BN statistics.
    model = create_model("adcorre_xception", 7, 3)
    assert _count(model) == 24_545_839 - 54_528
    assert model.head.k == 7 and model.head.embed_dim == 256


def test_adcorre_head_defaults_and_options():
    model = create_model("adcorre_edgenet", 6, 1, k=3, embed_dim=16)
    v = model.forward_embeddings(torch.randn(4, 1, 48, 48))
    assert v.shape == (3, 4, 16)
    assert create_model("adcorre_edgenet", 6, 1).head.k == 6


def test_attach_head_on_any_classifier_like_edgenet():
    from fer_edge.trainers.models.edgenet import EdgeNet

    model = attach_head(EdgeNet(4, 1), 4, "adcorre", k=2, embed_dim=8)
    names = [n for n, _ in model.named_parameters()]
    assert not any("classifier" in n for n in names)  # the EdgeNet classifier was removed (DDP: no unused params)
    out = model.forward_train(torch.randn(2, 1, 64, 64))
    assert out["embeddings"].shape == (2, 2, 8)


def test_combine_votes():
    a = torch.tensor([[1.0, 0.0, 0.0]])  # softmax (0.576, 0.212, 0.212)
    b = torch.tensor([[1.0, 0.0, 0.0]])
    c = torch.tensor([[0.0, 9.0, 0.0]])
    plural = combine_votes([a, b, c], "plurality")
    assert plural.argmax().item() == 0  # two votes beat one confident vote
    assert torch.allclose(plural.exp().sum(), torch.tensor(1.0), atol=1e-6)
    avg = combine_votes([a, b, c], "average")
    assert avg.argmax().item() == 1  # the confident branch dominates the average
    assert torch.allclose(avg.exp().sum(), torch.tensor(1.0), atol=1e-6)


def test_esr_valid_padding_reproduces_published_geometry():
    model = create_model("esr_9", 8, 3, padding="valid")
    assert model.base(torch.zeros(1, 3, 96, 96)).shape == (1, 128, 20, 20)
    # methods.md §5.1 counts 20,349,384 with conv biases; ours use BN without conv bias:
    # 4 base convs (64+128+128+128) + 9 × 4 branch convs (128+256+256+512) biases fewer.
    assert _count(model) == 20_349_384 - 448 - 9 * 1152
    from fer_edge.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="too small"):
        model(torch.zeros(1, 3, 48, 48))


def test_train_outputs_plain_module_and_wrapper():
    lin = torch.nn.Linear(3, 2)
    assert set(train_outputs(lin, torch.randn(4, 3))) == {"logits"}

    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *a):
            return self.module(*a)

    model = create_model("adcorre_edgenet", 3, 1)
    out = train_outputs(Wrapper(model), torch.randn(2, 1, 48, 48))
    assert "embeddings" in out
    assert model(torch.randn(2, 1, 48, 48)).shape == (2, 3)  # forward restored after the call
