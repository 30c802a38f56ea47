"""`pip install` of the package into a fresh venv (Debian's python3-venv, offline, the system
numpy through --system-site-packages), then an import and a training run from outside the
checkout with neither PYTHONPATH nor LMECH_LIBRARY: the installed package finds the copy of
liblmech.so beside itself."""
import os
import shutil
import subprocess
import sys

from conftest import ROOT
import lmech


def test_pip_install_and_import_outside_checkout(tmp_path):
    # pip builds in place: copy python/ so that concurrent test runs never write into the
    # checkout (a plain `pip install ./python` leaves python/build/, which .gitignore covers)
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LMECH_LIBRARY")}
    env["LMECH_LIBRARY"] = lmech.library_path  # the library this build made, read at build time
    env["PIP_NO_INDEX"] = "1"  # offline: everything comes from Debian's packages
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                        str(src)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    del env["LMECH_LIBRARY"]
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import lmech, os, sys\n"
            "assert lmech.library_path.startswith(sys.prefix), lmech.library_path\n"
            "r = lmech.train({'data': {'source': 'teacher', 'dim': 3, 'outputs': 1, "
            "'train_size': 16, 'test_size': 0}, 'model': {'widths': [3, 4, 1]}, 'steps': 3, "
            "'threads': 1}, db='r.db')\n"
            "assert r['status'] == 'finished'\n"
            "print(lmech.__file__)\n")
    r = subprocess.run([str(py), "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    where = r.stdout.strip()
    assert where.startswith(str(venv)) and not where.startswith(os.path.join(ROOT, "python"))


def test_library_variable_is_honoured(tmp_path):
    env = dict(os.environ, LMECH_LIBRARY=str(tmp_path / "nowhere.so"))
    r = subprocess.run([sys.executable, "-c", "import lmech"], env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "LMECH_LIBRARY" in r.stderr and "nowhere.so" in r.stderr


def test_checkout_build_is_the_fallback(tmp_path):
    """Without LMECH_LIBRARY and without an installed copy, the package in python/ loads
    build/liblmech.so of its checkout (`make build`, then PYTHONPATH=python)."""
    lib = os.path.join(ROOT, "build", "liblmech.so")
    if not os.path.exists(lib):
        import pytest
        pytest.skip("this checkout has no build/liblmech.so (a build elsewhere)")
    env = {k: v for k, v in os.environ.items() if k != "LMECH_LIBRARY"}
    env["PYTHONPATH"] = os.path.join(ROOT, "python")
    r = subprocess.run([sys.executable, "-c", "import lmech; print(lmech.library_path)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.realpath(lib)
