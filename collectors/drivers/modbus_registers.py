"""The original recorder's Modbus register types, decoded with pymodbus' own converters.

====== =============================== =========
type   value                           registers
====== =============================== =========
MBI    signed 16-bit integer           1
MBU    unsigned 16-bit integer         1
MBL    signed 32-bit integer           2
MBUL   unsigned 32-bit integer         2
MBF    IEEE 754 32-bit float           2
====== =============================== =========

Word order (32-bit types), as the original named it: ``right`` (default) has the lowest-weight
word at the right, i.e. the first register is the high word (pymodbus' ``big``); ``left`` has it
at the left (``little``). Bytes inside a register are always big-endian, as Modbus says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pymodbus.client.mixin import ModbusClientMixin

_T = ModbusClientMixin.DATATYPE

#: register type -> pymodbus data type
DATA_TYPES = {
    "MBI": _T.INT16,
    "MBU": _T.UINT16,
    "MBL": _T.INT32,
    "MBUL": _T.UINT32,
    "MBF": _T.FLOAT32,
}
#: the original's register_order -> pymodbus' word order
WORD_ORDERS: dict[str, Literal["big", "little"]] = {"right": "big", "left": "little"}


def register_count(register_type: str) -> int:
    """How many 16-bit registers a value of ``register_type`` takes."""
    return int(DATA_TYPES[register_type].value[1])


def decode(registers: Sequence[int], register_type: str, order: str = "right") -> float:
    """The number that ``registers`` hold (before scaling)."""
    value = ModbusClientMixin.convert_from_registers(
        list(registers), DATA_TYPES[register_type], word_order=WORD_ORDERS[order]
    )
    return float(value)  # type: ignore[arg-type]  # a scalar for the numeric types above


def encode(value: float, register_type: str, order: str = "right") -> list[int]:
    """The registers holding ``value`` (rounded for the integer types): a simulator's side."""
    data_type = DATA_TYPES[register_type]
    number: int | float = value if register_type == "MBF" else round(value)
    return ModbusClientMixin.convert_to_registers(number, data_type, word_order=WORD_ORDERS[order])
