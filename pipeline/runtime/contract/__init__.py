"""Dataset contracts: one JSON Schema file per dataset drives validation, types, keys and partitions."""

from pipeline.runtime.contract.exceptions import (
    ContractChangedError,
    ContractError,
    UnknownDatasetError,
    check_same_contract,
)
from pipeline.runtime.contract.loader import dataset_for_key, load_contract, load_contracts, schemas_dir
from pipeline.runtime.contract.model import Column, Contract, Partition

__all__ = [
    "Column",
    "Contract",
    "ContractChangedError",
    "ContractError",
    "Partition",
    "UnknownDatasetError",
    "check_same_contract",
    "dataset_for_key",
    "load_contract",
    "load_contracts",
    "schemas_dir",
]
