"""The judge's parts without a kernel: the plain-data format, models as graphs, and what the judge runs."""

import io
import json
import os
import pickle

import numpy as np
import pytest
import torch

from aelib import checks, conv, models
from autograder import crossing
from autograder.crossing import CrossingError
from autograder.judge import Step, _write_back, plan
from autograder.programs import GradedModel, resolve
from autograder.course import SOLUTIONS


def _round_trip(value, tmp_path, example=None):
    crossing.write(tmp_path / "m.npz", value, example=example)
    return crossing.read(tmp_path / "m.npz")


def test_plain_data_crosses_unchanged(tmp_path):
    generator = np.random.default_rng(3)
    value = {"f": 0.1, "nan": float("nan"), "big": 2 ** 70, "np": np.float64(4.5), "b": np.bool_(True),
             "tuple": (1, "two", None, [3.0]), "array": np.arange(6, dtype=np.float32).reshape(2, 3),
             "tensor": torch.ones(3, dtype=torch.float64, requires_grad=True), "dtype": np.float32,
             "torch_dtype": torch.int64, 7: "int key", "rng": generator}
    back = _round_trip(value, tmp_path)
    assert back["f"] == 0.1 and np.isnan(back["nan"]) and back["big"] == 2 ** 70
    assert back["np"] == 4.5 and type(back["np"]) is np.float64 and back["b"] is np.True_
    assert back["tuple"] == (1, "two", None, [3.0])
    assert back["array"].dtype == np.float32 and np.array_equal(back["array"], value["array"])
    assert back["tensor"].dtype == torch.float64 and back["tensor"].requires_grad
    assert back["dtype"] == np.dtype("float32") and back["torch_dtype"] is torch.int64 and back[7] == "int key"
    assert back["rng"].random() == generator.random()


@pytest.mark.parametrize("value, hint", [(object(), "cannot be graded: return numbers"),
                                         (np.array([object()]), "numeric or bool dtype"),
                                         ({(1, 2): 3}, "keys must be strings or ints"),
                                         (lambda x: x, "cannot be graded")])
def test_other_values_are_refused_with_what_to_return_instead(value, hint, tmp_path):
    with pytest.raises(CrossingError, match=hint):
        crossing.write(tmp_path / "m.npz", value)


def test_reading_follows_no_link_unpickles_nothing_and_has_a_size_cap(tmp_path):
    crossing.write(tmp_path / "real.npz", [1, 2])
    os.symlink(tmp_path / "real.npz", tmp_path / "link.npz")
    with pytest.raises(OSError):
        crossing.read(tmp_path / "link.npz")
    with open(tmp_path / "pickled.npz", "wb") as handle:
        np.savez(handle, __manifest__=np.frombuffer(json.dumps({"array": "a0"}).encode(), np.uint8),
                 a0=np.array([object()], dtype=object))
    with pytest.raises(CrossingError):
        crossing.read(tmp_path / "pickled.npz")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(CrossingError):
        crossing.read(tmp_path / "pickle.npz")
    with pytest.raises(CrossingError, match="more than"):
        crossing.read(tmp_path / "real.npz", max_bytes=10)
    os.mkfifo(tmp_path / "fifo.npz")
    with pytest.raises(CrossingError, match="regular file"):
        crossing.read(tmp_path / "fifo.npz")


@pytest.mark.parametrize("build", [
    lambda: models.mlp_autoencoder([64, 32, 8], activation="relu", output_activation="sigmoid", seed=0),
    lambda: conv.conv_autoencoder((16, 16), channels=(4, 8), code_channels=2, decoder="transpose", decoder_kernel=4,
                                  padding=1, seed=0),
])
def test_a_model_crosses_as_graphs_that_compute_what_it_computes(build, tmp_path):
    model = build().eval()
    features = 64 if isinstance(model, models.Autoencoder) else 256
    x = torch.rand(7, features)
    graded = _round_trip({"model": model}, tmp_path, example=x.numpy())["model"]
    assert isinstance(graded, GradedModel)
    with torch.no_grad():
        assert torch.allclose(graded(x), model(x), atol=1e-6)
        assert torch.allclose(graded.encode(x), model.encode(x), atol=1e-6)
    assert sum(p.numel() for p in graded.parameters()) == sum(p.numel() for p in model.parameters())
    jacobian = torch.func.vmap(torch.func.jacrev(lambda v: graded.encode(v[None])[0]))(x)
    assert jacobian.shape[0] == 7
    ops = checks.ops_used(graded, x)
    assert ("convolution" in ops) == (features == 256)


class _Copier(torch.nn.Module):
    """A model whose forward copies its input: the judge's model(x) must not."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(64, 2)
        self.decoder = torch.nn.Linear(2, 64)

    def forward(self, x):
        return x


def test_the_decoder_sees_only_the_code(tmp_path):
    x = torch.rand(5, 64)
    graded = _round_trip(_Copier(), tmp_path, example=x)
    with torch.no_grad():
        assert not torch.allclose(graded(x), x)


def test_a_model_without_an_encoder_is_told_what_the_grader_needs(tmp_path):
    graded = _round_trip(torch.nn.Sequential(torch.nn.Linear(64, 2), torch.nn.Linear(2, 64)), tmp_path,
                         example=torch.rand(3, 64))
    assert graded(torch.rand(3, 64)).shape == (3, 64)
    with pytest.raises(AttributeError, match="no encode.x. method or encoder submodule"):
        graded.encode(torch.rand(3, 64))


def test_operations_outside_the_allow_list_are_refused():
    for name in ("aten.from_file.default", "builtins.eval", "torch.serialization.os.system", "aten.linear.__init__x"):
        with pytest.raises(CrossingError):
            resolve(name)
    assert resolve("aten.linear.default") is torch.ops.aten.linear.default


def test_a_graph_naming_a_forbidden_operation_is_refused_when_read(tmp_path):
    model = models.mlp_autoencoder([4, 2], activation=None, seed=0)
    crossing.write(tmp_path / "m.npz", model, example=np.zeros((2, 4), np.float32))
    arrays = dict(np.load(tmp_path / "m.npz"))
    manifest = json.loads(bytes(arrays["__manifest__"]).decode())
    node = next(n for n in manifest["model"]["parts"]["encoder"]["nodes"] if "op" in n)
    node["op"] = "aten.from_file.default"
    arrays["__manifest__"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (tmp_path / "evil.npz").write_bytes(buffer.getvalue())
    with pytest.raises(CrossingError, match="does not run"):
        crossing.read(tmp_path / "evil.npz")


def test_changes_to_arguments_are_written_back():
    x, params, generator = np.zeros(3), {"W": np.zeros(2), "n": 1}, np.random.default_rng(0)
    after = np.random.default_rng(0)
    after.random()
    _write_back([x, params, generator], [np.ones(3), {"W": np.full(2, 2.0), "n": 5, "new": 1}, after])
    assert np.array_equal(x, np.ones(3)) and np.array_equal(params["W"], [2.0, 2.0]) and params["n"] == 5
    assert params["new"] == 1 and generator.random() == after.random()


def test_the_judge_runs_what_the_tests_read_and_no_training_run():
    steps = plan(SOLUTIONS / "01-copy-through" / "01-copy-through.ipynb")
    code = "\n".join(s.source for s in steps if s.kind == "code")
    assert "def init_params" in code and "digits = data.load(DATASET)" in code
    assert "train.fit" not in code and "train_by_hand(" not in code and "plot." not in code
    assert [s.grade_id for s in steps if s.kind == "test"] == ["test-forward", "test-loss", "test-gradients",
                                                              "test-train-bottleneck"]
    assert any(s.kind == "api" and s.names == {"gradients"} for s in steps)
    assert all(isinstance(s, Step) for s in steps)


class _TiedWithMethods(torch.nn.Module):
    """Lesson 05's shape of model: an encoder module and a decoder method that reuses its weight."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.Sigmoid())
        self.c = torch.nn.Parameter(torch.zeros(6))

    def decoder(self, h):
        return torch.sigmoid(h @ self.encoder[0].weight + self.c)


def test_a_decoder_method_and_tied_weights_cross(tmp_path):
    model, x = _TiedWithMethods(), torch.rand(4, 6)
    graded = _round_trip(model, tmp_path, example=x)
    with torch.no_grad():
        assert torch.allclose(graded.decoder(graded.encoder(x)), model.decoder(model.encoder(x)), atol=1e-6)
    assert sum(p.numel() for p in graded.parameters()) == 6 * 3 + 3 + 6, "a tied weight is one weight"


class _LenReshape(torch.nn.Module):
    """Written as students write it: reshape(len(x), -1), which the default tracer fixes to one batch size."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Conv2d(1, 2, 3, padding=1)

    def encode(self, x):
        return self.layer(x.reshape(-1, 1, 4, 4))

    def forward(self, x):
        return self.encode(x).mean(1).reshape(len(x), -1)


def test_a_model_written_with_len_crosses_for_every_batch_size(tmp_path):
    model = _LenReshape().eval()
    graded = _round_trip(model, tmp_path, example=torch.rand(3, 16))
    x = torch.rand(9, 16)
    with torch.no_grad():
        assert torch.allclose(graded(x), model(x), atol=1e-6)


def test_buffers_stay_buffers_and_frozen_weights_stay_frozen(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 4))
    model[0].weight.requires_grad_(False)
    model.train()
    model(torch.rand(8, 4))  # running statistics that differ from the defaults
    model.eval()
    graded = _round_trip(model, tmp_path, example=torch.rand(2, 4))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for p in graded.parameters() if p.requires_grad) == trainable
    assert sum(p.numel() for p in graded.parameters()) == sum(p.numel() for p in model.parameters())
    x = torch.rand(5, 4)
    with torch.no_grad():
        assert torch.allclose(graded(x), model(x), atol=1e-6)


def test_each_notebook_gets_its_own_judge_forked_from_one_server(tmp_path):
    from autograder.preprocessors import JudgeProcess, JudgeServer

    source = (SOLUTIONS / "07-masked" / "07-masked.ipynb").resolve()
    judges = [JudgeProcess(source, tmp_path) for _ in range(2)]
    for judge in judges:
        judge.start()
    server = JudgeServer.for_lesson(source)
    try:
        for judge in judges:
            verdict = judge.run("no-such-test", answer=None, timeout=300)
            assert verdict["passed"] is False and "not a test of this lesson" in verdict["evalue"]
        pids = [judge.pid for judge in judges]
        assert len(set(pids)) == 2 and server.process.pid not in pids
        assert all(os.getpgid(pid) == pid for pid in pids), "each judge leads its own process group (killed whole)"
        judges[0].stop()
        assert judges[1].run("no-such-test", answer=None, timeout=60)["passed"] is False, "one judge's end is its own"
        assert JudgeServer.for_lesson(source) is server, "the server is started once per grading process"
    finally:
        for judge in judges:
            judge.stop()
        server.close()
    assert server.process.returncode == 0, "the server ends when the grader closes its socket"
