"""Datasets: the contract a dataset component meets, and where its files come from."""

from mlpspec.data.dataset import DataContext, Dataset
from mlpspec.data.prepare import Splits, prepare, preprocess_rows

__all__ = ["DataContext", "Dataset", "Splits", "prepare", "preprocess_rows"]
