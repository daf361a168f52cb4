"""The original recorder's Modbus register types, word orders and scaling."""

from __future__ import annotations

import pytest

from collectors.drivers.modbus_registers import decode, encode, register_count


@pytest.mark.parametrize(
    ("registers", "register_type", "order", "value"),
    [
        ([0xFFFF], "MBI", "right", -1),
        ([0xFFFF], "MBU", "right", 65535),
        ([0x0001, 0x0000], "MBL", "right", 65536),  # first register is the high word
        ([0x0000, 0x0001], "MBL", "left", 65536),  # lowest-weight word at the left
        ([0xFFFF, 0xFFFE], "MBL", "right", -2),
        ([0xFFFF, 0xFFFE], "MBUL", "right", 0xFFFFFFFE),
        ([0x4367, 0xB333], "MBF", "right", 231.6999969482422),
        ([0xB333, 0x4367], "MBF", "left", 231.6999969482422),
    ],
)
def test_it_decodes_each_type_in_each_word_order(
    registers: list[int], register_type: str, order: str, value: float
) -> None:
    assert decode(registers, register_type, order) == value


@pytest.mark.parametrize("register_type", ["MBI", "MBU", "MBL", "MBUL", "MBF"])
@pytest.mark.parametrize("order", ["right", "left"])
def test_what_the_simulator_encodes_decodes_back(register_type: str, order: str) -> None:
    registers = encode(1234.0, register_type, order)
    assert len(registers) == register_count(register_type)
    assert decode(registers, register_type, order) == 1234.0
