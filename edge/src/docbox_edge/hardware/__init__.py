"""Lock boards, door sensors and coils of the pickup box, behind gpiozero pin factories.

Import from the submodules: `box` (BoxHardware, build_hardware), `lockboard` (the board
interface and door signals), the drivers `gpio` (GPIO pins, also on expanders),
`mcp23017` (MCP23017 I²C expanders as a gpiozero pin factory) and `kerong` with
`kerong_codec` (Kerong CU16/CU48 RS-485 lock controllers), the simulators `mockpins`,
`i2c_sim`, `kerong_sim`, `simulated` (door physics) and `simulation` (a whole box from
any configuration), `layouts` (example boxes), `errors`. This package module stays empty so
that `docbox_edge.boxconfig` can import `errors` without a circular import.
"""
