"""lmech.train and lmech.Runs against the CLI and a direct sqlite3 reading of the database."""
import json
import sqlite3
import sys

import numpy as np
import pytest

import lmech
from conftest import small_config


def test_train_equals_cli_bitwise(tmp_path, config, config_file, cli):
    py = lmech.train(config, db=tmp_path / "py.db")
    c = json.loads(cli("train", config_file, "--db", tmp_path / "cli.db", "--json"))
    assert py["status"] == c["status"] == "finished"
    assert py["steps"] == c["steps"] == config["steps"]
    # the same config through the same lm_train_run: the same bits (17 significant digits
    # round-trip a double exactly)
    assert py["final"] == c["final"]
    assert set(py) == set(c) and py["db"] == str(tmp_path / "py.db")


def test_train_accepts_path_and_text(tmp_path, config, config_file):
    a = lmech.train(config_file, db=tmp_path / "a.db")
    b = lmech.train(json.dumps(config), db=tmp_path / "b.db")
    assert a["final"] == b["final"]


def test_train_diverged_is_a_result(tmp_path):
    r = lmech.train(small_config(optimizer={"name": "sgd", "lr": 1e6}), db=tmp_path / "d.db")
    assert r["status"] == "diverged" and r["diverged_step"] >= 0


@pytest.mark.parametrize("cfg,want", [
    ({"model": {"widths": [6, 12, 2]}, "steps": 5, "data": {"source": "teacher", "dim": 6,
      "outputs": 2, "train_size": 8}, "bogus": 1}, "bogus"),
    ({"model": {"widths": [6, -3, 2]}, "steps": 5,
      "data": {"source": "teacher", "dim": 6, "outputs": 2, "train_size": 8}}, "widths"),
])
def test_train_bad_config(tmp_path, cfg, want):
    with pytest.raises(lmech.Error, match=want):
        lmech.train(cfg, db=tmp_path / "x.db")


def test_train_config_file_errors_name_the_file(tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"model": {"widths": [3, 1]},\n "steps": 1,, }')
    with pytest.raises(lmech.Error, match=r"broken\.json:2"):
        lmech.train(f, db=tmp_path / "x.db")


def test_train_missing_files(tmp_path, config):
    with pytest.raises(lmech.Error, match="nope.json"):
        lmech.train(tmp_path / "nope.json", db=tmp_path / "x.db")
    with pytest.raises(lmech.Error, match="missing.safetensors"):
        lmech.train(config, db=tmp_path / "x.db", init=tmp_path / "missing.safetensors")
    with pytest.raises(lmech.Error, match="expected a dict"):
        lmech.train(42)


def test_train_bad_db_dir(tmp_path, config):
    with pytest.raises(lmech.Error, match="no_such_dir"):
        lmech.train(config, db=tmp_path / "no_such_dir" / "r.db")


@pytest.fixture
def trained(tmp_path, config):
    db = tmp_path / "r.db"
    r1 = lmech.train(config, db=db)
    r2 = lmech.train(small_config(seed=6), db=db)
    return db, r1, r2


def test_runs_list_matches_sqlite(trained):
    db, r1, r2 = trained
    runs = lmech.Runs(db).list()
    q = sqlite3.connect(db).execute("SELECT id, status, hash, steps FROM runs ORDER BY id")
    assert [(r["id"], r["status"], r["hash"], r["steps"]) for r in runs] == q.fetchall()
    assert [r["id"] for r in runs] == [r1["run_id"], r2["run_id"]]


def test_metrics_equal_sqlite(trained):
    db, r1, _ = trained
    m = lmech.Runs(db).metrics(r1["run_id"])
    con = sqlite3.connect(db)
    names = [n for (n,) in con.execute(
        "SELECT DISTINCT name FROM metrics WHERE run = ?", (r1["run_id"],))]
    assert sorted(m) == sorted(names) and "train_loss" in m
    for name, (steps, values) in m.items():
        rows = con.execute("SELECT step, value FROM metrics WHERE run = ? AND name = ? "
                           "ORDER BY step, rowid", (r1["run_id"], name)).fetchall()
        assert steps.dtype == np.int64 and values.dtype == np.float64
        assert steps.tolist() == [s for s, _ in rows]
        want = np.array([np.nan if v is None else v for _, v in rows])
        np.testing.assert_array_equal(values, want)  # bitwise, NaN where NULL
    assert m["train_loss"][1][-1] == r1["final"]["train_loss"]


def test_config_and_errors(trained, tmp_path):
    db, r1, _ = trained
    runs = lmech.Runs(db)
    c = runs.config(r1["run_id"])
    stored = sqlite3.connect(db).execute("SELECT config FROM runs WHERE id = ?",
                                         (r1["run_id"],)).fetchone()[0]
    assert c == json.loads(stored) and c["seed"] == 5
    with pytest.raises(lmech.Error, match="999"):
        runs.metrics(999)
    with pytest.raises(lmech.Error, match="999"):
        runs.config(999)
    with pytest.raises(lmech.Error, match="no such database"):
        lmech.Runs(tmp_path / "absent.db")
    (tmp_path / "junk.db").write_bytes(b"this is not a database, not at all" * 100)
    with pytest.raises(lmech.Error):
        lmech.Runs(tmp_path / "junk.db").list()


def test_metrics_frame(trained, monkeypatch):
    db, r1, _ = trained
    runs = lmech.Runs(db)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(lmech.Error, match="pandas"):
        runs.metrics(r1["run_id"], as_frame=True)
    monkeypatch.undo()
    pd = pytest.importorskip("pandas")
    df = runs.metrics(r1["run_id"], as_frame=True)
    assert isinstance(df, pd.DataFrame) and df["train_loss"].iloc[-1] == r1["final"]["train_loss"]


def test_claims(tmp_path, cli):
    exp = {"experiment": "py_claims", "summary": "two seeds, one claim",
           "base": small_config(steps=10),
           "sweep": {"seed": [1, 2]},
           "claims": [{"name": "loss_small", "predicted": "final train loss below 10",
                       "metric": "train_loss", "reduce": "max", "range": [0, 10],
                       "reason": "a test of the binding, not of the science"}]}
    f = tmp_path / "e.json"
    f.write_text(json.dumps(exp))
    db = tmp_path / "e.db"
    cli("exp", f, "--db", db, "--json")
    runs = lmech.Runs(db)
    got = runs.claims("py_claims")
    con = sqlite3.connect(db)
    want = con.execute("SELECT name, verdict, measured FROM claims ORDER BY id").fetchall()
    assert [(c["name"], c["verdict"], c["measured"]) for c in got] == want
    assert runs.claims() == got and got[0]["experiment"] == "py_claims"
    assert len(got[0]["runs"]) == 2
    with pytest.raises(lmech.Error, match="nope"):
        runs.claims("nope")


def test_ctrl_c_records_the_run_interrupted(tmp_path):
    """SIGINT during lmech.train: the run stops at the next step, is recorded `interrupted`,
    and KeyboardInterrupt reaches the caller (as `lmech train`'s Ctrl-C)."""
    import os
    import signal
    import subprocess
    import time
    db = tmp_path / "i.db"
    code = ("import json, sys, lmech\n"
            "cfg = json.loads(sys.argv[1])\n"
            "print('ready', flush=True)\n"
            "lmech.train(cfg, db=sys.argv[2])\n")
    cfg = small_config(steps=10**8, eval_every=10**7)
    p = subprocess.Popen([sys.executable, "-c", code, json.dumps(cfg), str(db)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=os.environ)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode != 0 and "KeyboardInterrupt" in err
    (status, steps), = sqlite3.connect(db).execute("SELECT status, steps FROM runs").fetchall()
    assert status == "interrupted" and 0 < steps < 10**8
