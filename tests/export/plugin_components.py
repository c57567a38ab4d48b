"""A plugin (loaded with ``--plugin tests.export.plugin_components``) whose components export
in every way the tests need: not at all, through a declared custom domain, through an
undeclared one, with a crash, and wrongly."""

from __future__ import annotations

import numpy as np

from mlpspec import Layer, Params, hookimpl


class Square:
    """z², with no to_onnx."""

    def __init__(self, params: Params) -> None:
        pass

    def forward(self, z: np.ndarray) -> np.ndarray:
        return z * z

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        return 2 * z * grad_a


class Twice(Layer):
    """2·x, parameter-free; to_onnx as its subclasses say (none here)."""

    def __init__(self, params: Params, in_features: int, ctx) -> None:
        self.out_features = in_features

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        return 2 * x

    def backward(self, grad_out: np.ndarray, *, need_input_grad: bool = True):
        return 2 * grad_out


class CustomDomainTwice(Twice):
    def to_onnx(self, ctx, input_name: str) -> str:
        ctx.declare_domain("com.example.twice", 1)
        return ctx.add_node("Twice", [input_name], domain="com.example.twice")


class UndeclaredDomainTwice(Twice):
    def to_onnx(self, ctx, input_name: str) -> str:
        return ctx.add_node("Twice", [input_name], domain="com.example.twice")


class CrashingTwice(Twice):
    def to_onnx(self, ctx, input_name: str) -> str:
        raise RuntimeError("a bug in the plugin")


class WrongTwice(Twice):
    """Exports 3·x for a layer that computes 2·x: the kit must notice."""

    def to_onnx(self, ctx, input_name: str) -> str:
        return ctx.add_node("Mul", [input_name, ctx.add_initializer("three", 3.0)])


@hookimpl
def mlpspec_register_activations(register) -> None:
    register("plug.square", Square)


@hookimpl
def mlpspec_register_layers(register) -> None:
    register("plug.twice", Twice)
    register("plug.custom_domain", CustomDomainTwice)
    register("plug.undeclared_domain", UndeclaredDomainTwice)
    register("plug.crashing", CrashingTwice)
    register("plug.wrong", WrongTwice)
