"""The generic plugin registry (nas.registry) and the head registry that uses it."""

import pytest
import torch

from nas.errors import NasError, TaskError, UnknownNameError
from nas.heads import HEADS, HeadSpec, build_head, head_accepts, head_params
from nas.registry import Registry


def test_register_get_and_list_in_registration_order():
    reg: Registry[int] = Registry("colour")
    reg.register("red", 1)

    @reg.register("blue")
    def blue():
        return 2

    assert reg.get("red") == 1 and reg.get("blue") is blue
    assert reg.names() == ("red", "blue") and list(reg) == ["red", "blue"]
    assert "red" in reg and "green" not in reg and len(reg) == 2


def test_unknown_name_names_every_entry_and_the_hint():
    reg = Registry("colour", hint="pick one of them")
    reg.register("red", 1)
    reg.register("blue", 2)
    with pytest.raises(UnknownNameError) as err:
        reg.get("green")
    assert isinstance(err.value, NasError)
    assert str(err.value) == "unknown colour 'green'; choose one of red, blue; pick one of them"


def test_family_error_type_and_duplicate_registration():
    reg = Registry("task", error=TaskError)
    reg.register("a", 1)
    with pytest.raises(TaskError, match="choose one of a$"):
        reg.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a", 2)


@pytest.mark.parametrize("kind", HEADS.names())
def test_every_head_builds_with_its_declared_parameter_count(kind):
    n = 4
    out = (n, n) if kind == "pointer" else (6, 3, 3)
    head = HeadSpec(kind, n)
    assert head_accepts(head, out)
    module = build_head(head, out)
    assert sum(p.numel() for p in module.parameters()) == head_params(head, out)
    y = module(torch.randn(2, *out))
    assert y.shape == ((2, n, n) if kind == "pointer" else (2, n))


def test_unknown_head_kind_fails_naming_the_kinds():
    with pytest.raises(TaskError, match="choose one of classification, regression, pointer"):
        HeadSpec("ranking", 3)
