"""Dataset contracts: one JSON Schema file per dataset drives validation, types, keys and partitions."""

from pipeline.contract.exceptions import ContractError, UnknownDatasetError
from pipeline.contract.loader import dataset_for_key, load_contract, load_contracts, schemas_dir
from pipeline.contract.model import Column, Contract, Partition

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
