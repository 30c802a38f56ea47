"""Shared fixtures of the Python package's tests: the lmech CLI (LMECH_CLI, set by CTest; else
build/lmech of the checkout), a small synthetic config, and a trained run."""
import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))


def cli_path():
    return os.environ.get("LMECH_CLI") or os.path.join(ROOT, "build", "lmech")


@pytest.fixture
def cli():
    p = cli_path()
    if not os.path.exists(p):
        pytest.fail(f"the lmech CLI is not at {p}: build the checkout or set LMECH_CLI")

    def run(*args):
        r = subprocess.run([p, *map(str, args)], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"lmech {' '.join(map(str, args))} failed: {r.stderr}")
        return r.stdout
    return run


def small_config(**over):
    """A teacher-student regression small enough to train in well under a second."""
    c = {"seed": 5,
         "data": {"source": "teacher", "dim": 6, "outputs": 2, "teacher_width": 8,
                  "noise": 0.05, "train_size": 48, "test_size": 32},
         "model": {"widths": [6, 12, 2], "activation": "tanh"},
         "loss": "mse", "optimizer": {"name": "sgd", "lr": 0.05}, "batch_size": 16,
         "steps": 30, "eval_every": 10, "threads": 1}
    c.update(over)
    return c


@pytest.fixture
def config():
    return small_config()


@pytest.fixture
def config_file(tmp_path, config):
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(config))
    return p
