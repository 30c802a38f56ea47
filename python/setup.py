"""Copies liblmech.so into the package when it is built (pip install ./python).

The library is taken from LMECH_LIBRARY when set, else from build/ of the checkout that holds
this directory (`make build` first). pip builds in place (pip >= 21.3), so the checkout is
reachable from here. The wheel is then platform-specific (it carries a shared library).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def library():
    p = os.environ.get("LMECH_LIBRARY") or os.path.join(HERE, os.pardir, "build", "liblmech.so")
    p = os.path.normpath(p)
    if not os.path.isfile(p):
        raise SystemExit(f"lmech: {p} not found; build the C library first (make build) or set "
                         "LMECH_LIBRARY to liblmech.so")
    return p


class BuildPy(build_py):
    def run(self):
        super().run()
        dst = os.path.join(self.build_lib, "lmech")
        os.makedirs(dst, exist_ok=True)
        shutil.copy2(library(), os.path.join(dst, "liblmech.so"))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution)
