"""lmech.Model and lmech.hessian: derivatives against finite differences and the CLI."""
import json
import os

import numpy as np
import pytest

import lmech
from lmech import _lib
from conftest import small_config


@pytest.fixture
def ckpt(tmp_path, config):
    p = tmp_path / "m.safetensors"
    lmech.train(config, db=tmp_path / "r.db", save=p)
    return p


@pytest.fixture
def model(config, ckpt):
    return lmech.Model.load(config, ckpt)


def test_shapes_and_data(model, config):
    assert (model.d_in, model.d_out) == (6, 2)
    assert model.n_params == 6 * 12 + 12 + 12 * 2 + 2
    (x, y), test = model.data()
    assert x.shape == (48, 6) and y.shape == (48, 2) and test[0].shape == (32, 6)
    assert model.config["seed"] == config["seed"]


def test_loss_equals_training_record(tmp_path, config):
    p = tmp_path / "m.safetensors"
    r = lmech.train(config, db=tmp_path / "r.db", save=p)
    m = lmech.Model.load(config, p)
    (x, y), _ = m.data()
    loss, g = m.loss_grad(x, y)
    # the trainer evaluates the whole training set in one chunk with the same kernel
    assert loss == pytest.approx(r["final"]["train_loss"], rel=1e-13)
    assert g.shape == (m.n_params,) and np.all(np.isfinite(g))


def test_grad_is_finite_difference_of_loss(model):
    (x, y), _ = model.data()
    theta = model.params
    _, g = model.loss_grad(x, y)
    rng = np.random.default_rng(1)
    h = 1e-6  # central differences: error O(h^2 |L'''|) ~ 1e-12, rounding ~ 1e-16/h ~ 1e-10
    for i in rng.choice(model.n_params, 12, replace=False):
        e = np.zeros_like(theta)
        e[i] = h
        model.params = theta + e
        lp, _ = model.loss_grad(x, y)
        model.params = theta - e
        lm, _ = model.loss_grad(x, y)
        assert (lp - lm) / (2 * h) == pytest.approx(g[i], abs=1e-7)
    model.params = theta


def test_hvp_is_finite_difference_of_grad(model):
    (x, y), _ = model.data()
    theta = model.params
    v = np.random.default_rng(2).standard_normal(model.n_params)
    hv = model.hvp(x, y, v)
    h = 1e-5  # directional central difference of the gradient: O(h^2) truncation
    model.params = theta + h * v
    _, gp = model.loss_grad(x, y)
    model.params = theta - h * v
    _, gm = model.loss_grad(x, y)
    model.params = theta
    np.testing.assert_allclose(hv, (gp - gm) / (2 * h), rtol=1e-6, atol=1e-7)
    u = np.random.default_rng(3).standard_normal(model.n_params)
    assert u @ hv == pytest.approx(v @ model.hvp(x, y, u), rel=1e-12)  # symmetry


def test_jvp_is_finite_difference_of_forward(model):
    (x, _), _ = model.data()
    theta = model.params
    v = np.random.default_rng(4).standard_normal(model.n_params)
    df = model.jvp(x, v)
    h = 1e-6
    model.params = theta + h * v
    fp = model.forward(x)
    model.params = theta - h * v
    fm = model.forward(x)
    model.params = theta
    np.testing.assert_allclose(df, (fp - fm) / (2 * h), rtol=1e-6, atol=1e-8)


def test_hessian_equals_cli_and_dense(model, config, config_file, ckpt, cli):
    py = lmech.hessian(config, ckpt, top=2, trace=True, probes=50)
    c = json.loads(cli("hessian", config_file, "--init", ckpt, "--top", 2, "--trace",
                       "--probes", 50, "--json"))
    # the same operator, start vector and Lanczos: the same bits
    assert py["eigenvalues"].tolist() == c["eigenvalues"]
    assert py["trace"] == c["trace"] and py["loss"] == c["loss"]
    assert py["iterations"] == c["iterations"] and py["hvps"] == c["hvps"]
    # and the top eigenvalue of the dense Hessian built column by column from Model.hvp
    (x, y), _ = model.data()
    H = np.stack([model.hvp(x, y, e) for e in np.eye(model.n_params)])
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    top = np.linalg.eigvalsh(H)[::-1][:2]
    np.testing.assert_allclose(py["eigenvalues"], top, rtol=1e-8)  # Lanczos tol 1e-6 residual
    assert py["trace"]["estimate"] == pytest.approx(np.trace(H), abs=4 * py["trace"]["stderr"])


def test_hessian_dense_and_center_output_equal_cli(tmp_path, cli):
    cfg = small_config(model={"widths": [6, 5, 2], "activation": "tanh", "center_output": True,
                              "output_multiplier": 4.0}, steps=20)
    f, ck = tmp_path / "co.json", tmp_path / "co.safetensors"
    f.write_text(json.dumps(cfg))
    lmech.train(cfg, db=tmp_path / "co.db", save=ck)
    for method in ("lanczos", "dense"):
        py = lmech.hessian(cfg, ck, top=3, smallest=2, method=method, trace=True, density=True,
                           bins=40, slq_steps=10)
        c = json.loads(cli("hessian", f, "--init", ck, "--top", 3, "--smallest", 2, "--method",
                           method, "--trace", "--density", "--bins", 40, "--slq-steps", 10,
                           "--json"))
        assert py["loss"] == c["loss"] and py["eigenvalues"].tolist() == c["eigenvalues"]
        assert py["smallest"] == c["smallest"] and py["trace"] == c["trace"], method
        assert py["density"]["values"].tolist() == c["density"]["values"], method
    # center_output's loss is not the plain network's
    m = lmech.Model.load(cfg, ck)
    (x, y), _ = m.data()
    assert m.loss_grad(x, y)[0] != py["loss"]


def test_hessian_density(config, ckpt):
    r = lmech.hessian(config, ckpt, density=True, slq_steps=20, slq_probes=3, bins=50)
    d = r["density"]
    assert d["grid"].shape == (50,) and d["values"].shape == (50,)
    assert np.all(d["values"] >= 0) and d["weights"].sum() == pytest.approx(3.0)


def test_zero_copy_and_conversion(model):
    (x, y), _ = model.data()
    assert _lib.as_f64(x, "x") is x  # C-contiguous float64: passed as it is
    xf = np.asfortranarray(x)
    assert _lib.as_f64(xf, "x") is not xf
    l64, g64 = model.loss_grad(x, y)
    lf, gf = model.loss_grad(xf, y.tolist())  # Fortran order and lists are converted
    assert l64 == lf and np.array_equal(g64, gf)
    l32, _ = model.loss_grad(x.astype(np.float32), y)  # a float32 input is widened
    assert l32 == pytest.approx(l64, rel=1e-5)
    xs = np.zeros((x.shape[0], 12))
    xs[:, ::2] = x  # a strided view
    assert model.loss_grad(xs[:, ::2], y)[0] == l64


def test_model_errors(model, config, tmp_path, ckpt):
    (x, y), _ = model.data()
    with pytest.raises(lmech.Error, match=r"\[n, 6\]"):
        model.loss_grad(x[:, :5], y)
    with pytest.raises(lmech.Error, match="y has shape"):
        model.loss_grad(x, y[:10])
    with pytest.raises(lmech.Error, match="expected \\[110\\]"):
        model.hvp(x, y, np.ones(7))
    with pytest.raises(lmech.Error, match="float64"):
        model.forward(np.array([["a"] * 6]))
    with pytest.raises(lmech.Error, match="complex"):
        model.forward(x + 1j)
    with pytest.raises(lmech.Error, match="n >= 1"):
        model.forward(np.empty((0, 6)))
    with pytest.raises(lmech.Error, match="finite"):
        model.params = np.full(model.n_params, np.nan)
    with pytest.raises(lmech.Error, match="missing.safetensors"):
        lmech.Model.load(config, tmp_path / "missing.safetensors")
    other = small_config(model={"widths": [6, 5, 2]})
    with pytest.raises(lmech.Error, match="layers.0.weight"):
        lmech.Model.load(other, ckpt)  # a checkpoint of another shape
    with pytest.raises(lmech.Error, match="activation"):
        lmech.Model.load(small_config(model={"widths": [6, 2], "activation": "nope"}))
    with pytest.raises(lmech.Error, match="unknown hessian option"):
        model.hessian(x, y, topk=3)
    with pytest.raises(lmech.Error, match="top"):
        model.hessian(x, y, top=0)
    with pytest.raises(lmech.Error, match="110 parameters"):
        model.hessian(x, y, top=500)
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    with pytest.raises(lmech.Error, match="bad.safetensors"):
        lmech.Model.load(config, tmp_path / "bad.safetensors")


def _safetensors(path):
    import struct
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for k, v in head.items():
        if k != "__metadata__":
            s, e = v["data_offsets"]
            out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f8").reshape(v["shape"])
    return out


@pytest.mark.parametrize("name", ["graph_cnn", "graph_resln", "graph_gpt2", "graph_gptseq"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_layer_graphs_match_pytorch_fixtures(name, loss):
    """Layer graphs (model.layers: convolutions, residual blocks with layer norm, the gpt
    architecture) against the PyTorch fixtures of tests/fixtures/: outputs, loss, gradient,
    HVP and JVP, all in float64, mapped through Model.tensors' names."""
    from conftest import ROOT
    fx = os.path.join(ROOT, "tests", "fixtures")
    with open(os.path.join(fx, name + ".json")) as f:
        spec = json.load(f)
    x, y = (os.path.join(fx, f"{name}_{k}.npy") for k in "xy")
    cfg = {"data": {"source": "npy", "x": x, "y": y, "test_size": 0}, "model": spec,
           "loss": loss, "steps": 1, "threads": 1}
    m = lmech.Model.load(cfg, os.path.join(fx, name + ".safetensors"))
    want = _safetensors(os.path.join(fx, name + "_expected.safetensors"))
    params = _safetensors(os.path.join(fx, name + ".safetensors"))
    names = [t["name"] for t in m.tensors]
    assert sorted(names) == sorted(params)  # every checkpoint tensor, named as PyTorch names it
    for t in m.tensors:
        assert tuple(t["shape"]) == params[t["name"]].shape
    np.testing.assert_array_equal(np.concatenate([params[n].ravel() for n in names]), m.params)
    flat = lambda prefix: np.concatenate([want[prefix + n].ravel() for n in names])  # noqa: E731
    x, y = np.load(x).astype(np.float64), np.load(y).astype(np.float64)
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    # float64 on both sides; the sums run in different orders: agreement to ~1e-10 relative
    np.testing.assert_allclose(m.forward(x), want["f"].reshape(x.shape[0], -1), rtol=1e-9,
                               atol=1e-11)
    L, g = m.loss_grad(x, y)
    assert L == pytest.approx(want[loss + ".loss"][0], rel=1e-9)
    np.testing.assert_allclose(g, flat(loss + "."), rtol=1e-8, atol=1e-11)
    named = m.named(g)
    for n in names:  # the named views are the gradient's slices in PyTorch's shapes
        np.testing.assert_allclose(named[n], want[f"{loss}.{n}"], rtol=1e-8, atol=1e-11)
    v = flat("v.")
    np.testing.assert_allclose(m.hvp(x, y, v), flat(loss + ".hvp."), rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(m.jvp(x, v), want["jvp"].reshape(x.shape[0], -1), rtol=1e-8,
                               atol=1e-11)
