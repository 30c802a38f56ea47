"""lmech.similarity, kernel, weights and fit against the CLI's --json on the same inputs."""
import json

import numpy as np
import pytest

import lmech
from conftest import small_config


def test_similarity_equals_cli(tmp_path, cli):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 7))
    B = np.tanh(A @ rng.standard_normal((7, 5))) + 0.1 * rng.standard_normal((40, 5))
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "b.npy", B)
    for metric in ("linear_cka", "debiased_cka", "mknn", "svcca"):
        py = lmech.similarity(A, B, metric=metric, k=5, null=20, seed=3)
        c = json.loads(cli("similarity", tmp_path / "a.npy", tmp_path / "b.npy", "--metric",
                           metric, "--k", 5, "--null", 20, "--seed", 3, "--json"))
        assert py == c, metric
    assert lmech.similarity(A, 2.5 * A)["value"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(lmech.Error, match="row counts differ"):
        lmech.similarity(A, B[:30])
    with pytest.raises(lmech.Error, match="unknown metric"):
        lmech.similarity(A, B, metric="cosine")
    with pytest.raises(lmech.Error, match="3 dimensions|2-d"):
        lmech.similarity(np.zeros((2, 2, 2)), B)


def test_kernel_analytic_equals_cli(tmp_path, cli):
    X = np.random.default_rng(1).standard_normal((6, 4))
    np.save(tmp_path / "x.npy", X)
    py = lmech.kernel(X, depth=2, activation="tanh", sw2=1.7, sb2=0.2)
    c = json.loads(cli("kernel", "--inputs", tmp_path / "x.npy", "--depth", 2, "--activation",
                       "tanh", "--sw2", 1.7, "--sb2", 0.2, "--json"))
    assert py["nngp"].tolist() == c["nngp"] and py["ntk"].tolist() == c["ntk"]
    # relu's arc-cosine closed form at depth 1, ntp, no bias: Sigma^2 = |x||y|/d * J1(theta)/pi
    k = lmech.kernel(X, depth=1, activation="relu")["nngp"]
    n = np.linalg.norm(X, axis=1)
    cos = np.clip((X @ X.T) / np.outer(n, n), -1, 1)
    th = np.arccos(cos)
    want = np.outer(n, n) / X.shape[1] * (np.sin(th) + (np.pi - th) * cos) / (2 * np.pi)
    np.testing.assert_allclose(k, want, rtol=1e-12, atol=1e-14)
    with pytest.raises(lmech.Error, match="nope"):
        lmech.kernel(X, activation="nope")
    with pytest.raises(lmech.Error, match="sw2"):
        lmech.kernel(X, sw2=-1)


def test_kernel_empirical_equals_cli(tmp_path, config, config_file, cli):
    X = np.random.default_rng(2).standard_normal((5, 6))
    np.save(tmp_path / "x.npy", X)
    py = lmech.kernel(X, model=config, per_layer=True)
    c = json.loads(cli("kernel", "--empirical", config_file, "--inputs", tmp_path / "x.npy",
                       "--per-layer", "--json"))
    assert py["ntk"].tolist() == c["ntk"] and py["layers"].tolist() == c["layers"]
    np.testing.assert_allclose(py["layers"].sum(0), py["ntk"], rtol=1e-12, atol=1e-12)
    # Theta = J J^T, J from Model.jvp along each parameter direction
    m = lmech.Model.load(config)
    J = np.stack([m.jvp(X, e).ravel() for e in np.eye(m.n_params)], axis=1)
    np.testing.assert_allclose(py["ntk"], J @ J.T, rtol=1e-10, atol=1e-12)
    with pytest.raises(lmech.Error, match="x has shape"):
        lmech.kernel(X[:, :3], model=m)


def test_weights_equal_cli(tmp_path, config, cli):
    p = tmp_path / "w.safetensors"
    lmech.train(small_config(model={"widths": [6, 64, 2]}, steps=5), db=tmp_path / "r.db",
                save=p)
    py = lmech.weights(p)
    c = json.loads(cli("weights", p, "--json"))
    assert py["skipped"] == c["skipped"] and len(py["layers"]) == len(c["layers"]) == 2
    for a, b in zip(py["layers"], c["layers"]):
        a = dict(a, eigenvalues=a["eigenvalues"].tolist(),
                 mp=dict(a["mp"], spike_eigenvalues=a["mp"]["spike_eigenvalues"].tolist()))
        assert a == b
    W = np.random.default_rng(3).standard_normal((400, 100))
    s = lmech.weights(W)
    assert s["shape"] == [400, 100] and s["eigenvalues"].shape == (100,)
    np.testing.assert_allclose(np.sort(s["eigenvalues"]),
                               np.sort(np.linalg.eigvalsh(W.T @ W / 400)), rtol=1e-10)
    assert s["mp"]["sigma2"] == pytest.approx(1.0, abs=0.1)
    with pytest.raises(lmech.Error, match="2-d"):
        lmech.weights(np.ones(5))
    with pytest.raises(lmech.Error, match="absent.safetensors"):
        lmech.weights(tmp_path / "absent.safetensors")


def _grid():
    N, D = np.meshgrid(np.logspace(6, 9, 4), np.logspace(8, 11, 4), indexing="ij")
    N, D = N.ravel(), D.ravel()
    return N, D, 1.7 + 400 / N**0.34 + 410 / D**0.28


def test_fit_equals_cli(tmp_path, cli):
    N, D, L = _grid()
    with open(tmp_path / "f.csv", "w") as f:
        f.write("N,D,L\n")
        for a, b, c in zip(N, D, L):
            f.write(f"{a!r},{b!r},{c!r}\n")
    py = lmech.fit(N, L, D=D, bootstrap=20, seed=0, compute=5.76e23)
    c = json.loads(cli("fit", tmp_path / "f.csv", "--bootstrap", 20, "--seed", 0, "--compute",
                       5.76e23, "--json"))
    assert py["params"] == c["params"] and py["ci"] == c["ci"]
    assert py["n_opt"] == c["n_opt"] and py["d_opt"] == c["d_opt"]
    assert py["identifiable"] == c["identifiable"] is True
    assert py["params"]["alpha"] == pytest.approx(0.34, rel=1e-4)  # noiseless: the truth
    p = lmech.fit(N[::4], 2 + 3 / N[::4] ** 0.5, bootstrap=0)
    assert p["law"] == "power" and p["params"]["alpha"] == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(lmech.Error, match="points"):
        lmech.fit(N[:2], L[:2], D=D[:2], bootstrap=0)
    with pytest.raises(lmech.Error, match="L has"):
        lmech.fit(N, L[:3], D=D)
    with pytest.raises(lmech.Error, match="law"):
        lmech.fit(N, L, law="linear")


def test_features_equal_cli_and_feed_similarity(tmp_path, config, config_file, cli):
    m = lmech.Model.load(config)
    X = np.random.default_rng(5).standard_normal((30, 6))
    np.save(tmp_path / "x.npy", X)
    assert m.n_repr == 2
    for layer in range(m.n_repr + 1):
        cli("features", config_file, "--inputs", tmp_path / "x.npy", "--layer", layer, "--out",
            tmp_path / f"h{layer}.npy")
        h = m.features(X, layer)
        assert np.array_equal(h, np.load(tmp_path / f"h{layer}.npy")), layer
    np.testing.assert_array_equal(m.features(X, 0), X)
    np.testing.assert_allclose(m.features(X, 2), m.forward(X), rtol=0, atol=0)
    assert m.features(X, 1).shape == (30, 12)
    cka = lmech.similarity(m.features(X, 1), m.features(X, 1) * 3.3)["value"]
    assert cka == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(lmech.Error, match="layer 3"):
        m.features(X, 3)
