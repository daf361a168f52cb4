"""A simulated Modbus TCP power meter on loopback (pymodbus' server), playing a power profile.

One :class:`ModbusSimulator` is one meter at a unit id, with a register map of :class:`Point`s:
each holds the profile's power (or its energy counter) in one of the original recorder's types,
word orders and scales, computed when a client reads it. :data:`DEFAULT_POINTS` covers every
type in both register categories, so tests and the demo read the same meter several ways::

    from pymodbus.client import ModbusTcpClient
    ModbusTcpClient("127.0.0.1", port=sim.port).read_holding_registers(0, count=1, device_id=1)

Addresses outside the map answer ILLEGAL DATA ADDRESS, as a real meter's do.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from collectors.drivers.modbus_registers import encode, register_count
from collectors.simulators.profile import PowerProfile
from collectors.simulators.serving import LoopThread, Served

_CATEGORY_OF_FUNCTION = {3: "holding", 4: "input"}


@dataclass(frozen=True)
class Point:
    """A value in the meter's register map: ``quantity`` (power in W, energy in Wh) divided by
    ``scale`` (so a client multiplies by ``scale`` to get it back), in ``register_type``."""

    category: str  # holding or input
    address: int
    register_type: str
    quantity: str = "power"  # power (W) or energy (Wh)
    scale: float = 1.0
    order: str = "right"


#: a meter with each type in each category (addresses are the tests' and docs' examples)
DEFAULT_POINTS = (
    Point("holding", 0, "MBU"),  # W
    Point("holding", 10, "MBF"),  # W, float
    Point("holding", 20, "MBL", scale=0.1, order="left"),  # dW, low word first
    Point("holding", 30, "MBUL", quantity="energy"),  # Wh counter
    Point("input", 0, "MBI"),  # W, signed
    Point("input", 10, "MBF", order="left"),  # W, float, low word first
    Point("input", 20, "MBUL", scale=0.01),  # cW
)


class ModbusSimulator(Served):
    """A Modbus TCP meter at ``127.0.0.1:port`` answering unit ``unit_id``."""

    def __init__(
        self,
        profile: PowerProfile,
        *,
        unit_id: int = 1,
        points: Sequence[Point] = DEFAULT_POINTS,
    ) -> None:
        self.profile = profile
        self.unit_id = unit_id
        self.points = list(points)
        self.host = "127.0.0.1"
        self.port = 0
        self.reads = 0  # read requests answered, for tests
        self._serving: LoopThread | None = None
        self._server: ModbusTcpServer | None = None

    def value(self, point: Point) -> float:
        """What ``point`` holds now, before encoding (the truth divided by its scale)."""
        if point.quantity == "energy":
            return self.profile.counter_j() / 3600.0 / point.scale
        return self.profile.watts_at() / point.scale

    async def _refresh(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        # Called by pymodbus before it answers: write the current values into the block.
        category = _CATEGORY_OF_FUNCTION.get(function_code)
        if category is None or set_values is not None:
            return None
        self.reads += 1
        for point in self.points:
            if point.category != category:
                continue
            offset = point.address - start_address
            words = encode(self.value(point), point.register_type, point.order)
            registers[offset : offset + len(words)] = words
        return None

    def _block(self, category: str) -> list[SimData]:
        chosen = sorted((p for p in self.points if p.category == category), key=lambda p: p.address)
        return [
            SimData(
                p.address, values=[0] * register_count(p.register_type), datatype=DataType.REGISTERS
            )
            for p in chosen
        ] or [SimData(0, values=[0], datatype=DataType.REGISTERS)]

    def _device(self) -> SimDevice:
        bits = [SimData(0, values=[False], datatype=DataType.BITS)]
        return SimDevice(
            id=self.unit_id,
            simdata=(bits, bits, self._block("holding"), self._block("input")),
            action=self._refresh,
        )

    def start(self) -> ModbusSimulator:
        probe = socket.socket()
        probe.bind((self.host, 0))
        self.port = probe.getsockname()[1]
        probe.close()  # pymodbus binds by address; the port is free again an instant later

        async def setup() -> None:
            # pymodbus takes the running loop when the server is made: make it inside.
            self._server = ModbusTcpServer(self._device(), address=(self.host, self.port))
            await self._server.serve_forever(background=True)

        async def teardown() -> None:
            if self._server is not None:
                await self._server.shutdown()

        self._serving = LoopThread(f"modbus-sim-{self.port}")
        self._serving.start(setup, teardown)
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self._serving = None
