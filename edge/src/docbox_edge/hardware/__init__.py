"""Lock boards, door sensors and coils of the pickup box, behind gpiozero pin factories.

Import from the submodules: `box` (BoxHardware, build_hardware), `lockboard` (the board
interface and door signals), `gpio` (the GPIO driver), `mockpins` and `simulated` (tests
and demos), `errors`. This package module stays empty so that `docbox_edge.boxconfig` can
import `errors` without a circular import.
"""
