"""Dataset contracts: one JSON Schema file per dataset drives validation, types, keys and partitions."""

from pipeline.runtime.contract.exceptions import ContractError, UnknownDatasetError
from pipeline.runtime.contract.loader import dataset_for_key, load_contract, load_contracts, schemas_dir
from pipeline.runtime.contract.model import Column, Contract, Partition

__all__ = [
    "Column",
    "Contract",
    "ContractError",
    "Partition",
    "UnknownDatasetError",
    "dataset_for_key",
    "load_contract",
    "load_contracts",
    "schemas_dir",
]
