"""The examples in the verifier's docstrings run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import qdisclab.bpf.verifier as package

MODULES = sorted(m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + "."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
