"""A hardware-free microscope: pymmcore-plus's pure-Python device layer.

`demo_core()` returns a ready `UniMMCore` with a synthetic camera, an XY stage,
a Z stage, a shutter, a "Channel" config group (DAPI, FITC, Cy5: each preset
selects a dye, which changes the image) and, unless disabled, a pixel-size
calibration. No Micro-Manager installation is needed. Snaps and sequence
acquisitions both work (the camera is a `SimpleCameraDevice`).

Every frame carries its 0-based frame counter (frames produced by that camera
so far) in the first `COUNTER_PIXELS` pixels of row 0, `bits` bits per pixel
(the camera's bit depth), least significant first; `decode_frame_counter`
reads it back, so tests can check that frames land in the right place.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from pymmcore_plus import CMMCorePlus
from pymmcore_plus.core._constants import PixelFormat
from pymmcore_plus.experimental.unicore import (
    ShutterDevice,
    SimpleCameraDevice,
    StageDevice,
    UniMMCore,
    XYStageDevice,
    pymm_property,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

CHANNELS = {"DAPI": (0.25, 0.3), "FITC": (0.5, 0.6), "Cy5": (0.75, 0.4)}
COUNTER_PIXELS = 4
BIT_DEPTHS = (8, 10, 12, 14, 16, 32)
_NOISE_BANK = 8


def counter_bits(dtype: Any, bit_depth: int) -> int:
    """Bits of the frame counter stored per pixel."""
    return min(bit_depth, int(np.dtype(dtype).itemsize) * 8)


def encode_frame_counter(frame: np.ndarray, n: int, bit_depth: int) -> None:
    """Write counter `n` into the first pixels of row 0 (little-endian digits)."""
    bits = counter_bits(frame.dtype, bit_depth)
    for k in range(COUNTER_PIXELS):
        frame[0, k] = (n >> (bits * k)) & ((1 << bits) - 1)


def decode_frame_counter(frame: np.ndarray, bit_depth: int = 12) -> int:
    """The 0-based frame counter a demo-camera frame carries."""
    bits = counter_bits(frame.dtype, bit_depth)
    return int(sum(int(frame[0, k]) << (bits * k) for k in range(COUNTER_PIXELS)))


class DemoCamera(SimpleCameraDevice):
    """Synthetic images: bright blobs on a smooth background, with shot noise.

    The blob pattern depends on the selected fluorophore; noise comes from a
    small precomputed bank so frames are cheap to produce.
    """

    def __init__(
        self,
        width: int = 512,
        height: int = 512,
        dtype: str = "uint16",
        bit_depth: int = 12,
        seed: int = 0,
    ) -> None:
        kind = np.dtype(dtype)
        if kind.kind != "u" or kind.itemsize > 4:
            raise ValueError(f"dtype must be uint8, uint16 or uint32, got {dtype!r}")
        if bit_depth not in BIT_DEPTHS or bit_depth > kind.itemsize * 8:
            allowed = [b for b in BIT_DEPTHS if b <= kind.itemsize * 8]
            raise ValueError(f"bit_depth for {kind} must be one of {allowed}")
        if width < COUNTER_PIXELS or height < 1:
            raise ValueError(f"frames must be at least {COUNTER_PIXELS} x 1 pixels")
        super().__init__()
        self._shape = (height, width)
        self._dtype = np.dtype(dtype)
        self._seed = seed
        self._exposure = 10.0
        self._fluorophore = "DAPI"
        self.frames_snapped = 0
        self._images: dict[str, np.ndarray] = {}
        self._noise = np.zeros((0, height, width), "float32")
        self._bit_depth = self._top = 0
        self._set_bit_depth(bit_depth)
        formats = [f"Mono{b}" for b in BIT_DEPTHS if b <= kind.itemsize * 8]
        self.set_property_allowed_values("PixelFormat", formats)

    @property
    def bit_depth(self) -> int:
        """Bits per pixel the camera fills (pixel values stay below 2**bits)."""
        return self._bit_depth

    def _set_bit_depth(self, bit_depth: int) -> None:
        """Make the images of `bit_depth` bits (every frame from now on)."""
        height, width = self._shape
        top = (1 << min(bit_depth, self._dtype.itemsize * 8)) - 1
        rng = np.random.default_rng(self._seed)
        yy, xx = np.mgrid[0:height, 0:width].astype("float32")
        images: dict[str, np.ndarray] = {}
        for name, (where, size) in CHANNELS.items():
            image = (
                0.1
                * top
                * (1 + np.sin(xx / width * math.pi) * np.cos(yy / height * math.pi))
                / 2
            )
            for cy, cx in rng.uniform(0.1, 0.9, (12, 2)):
                r2 = (yy - cy * height) ** 2 + (
                    xx - (cx * where + 0.2) % 1 * width
                ) ** 2
                image += 0.5 * top * size * np.exp(-r2 / (2 * (0.02 * width) ** 2))
            images[name] = image
        scale = max(1.0, top / 200)
        noise = (rng.poisson(20, (_NOISE_BANK, height, width)) * scale).astype(
            "float32"
        )
        self._images, self._noise = images, noise
        self._top, self._bit_depth = top, bit_depth

    def sensor_shape(self) -> tuple[int, int]:
        return self._shape

    def dtype(self) -> Any:
        return self._dtype

    def get_exposure(self) -> float:
        return self._exposure

    def set_exposure(self, exposure: float) -> None:
        self._exposure = float(exposure)

    def get_pixel_format(self) -> PixelFormat:
        return PixelFormat(f"Mono{self._bit_depth}")

    def set_pixel_format(self, value: PixelFormat | str) -> None:
        """Set the bit depth: ``"Mono8"`` ... ``"Mono16"`` (up to the dtype's)."""
        name = str(getattr(value, "value", value))
        bits = int(name[4:]) if name.startswith("Mono") and name[4:].isdigit() else 0
        if bits not in BIT_DEPTHS or bits > self._dtype.itemsize * 8:
            allowed = [f"Mono{b}" for b in BIT_DEPTHS if b <= self._dtype.itemsize * 8]
            raise ValueError(f"pixel format for {self._dtype} must be one of {allowed}")
        self._set_bit_depth(bits)

    @pymm_property(allowed_values=list(CHANNELS))
    def fluorophore(self) -> str:
        """The dye being imaged (changes the image)."""
        return self._fluorophore

    @fluorophore.setter  # type: ignore[no-redef]
    def fluorophore(self, value: str) -> None:
        self._fluorophore = str(value)

    def snap(self, buffer: np.ndarray) -> Mapping[str, Any]:
        n = self.frames_snapped
        self.frames_snapped += 1
        gain = self._exposure / 10.0
        image = self._images[self._fluorophore] * gain + self._noise[n % _NOISE_BANK]
        np.clip(image, 0, self._top, out=image)
        buffer[...] = image
        encode_frame_counter(buffer, n, self._bit_depth)
        return {"frame_counter": str(n)}


class DemoXYStage(XYStageDevice):
    """An XY stage that moves instantly."""

    def __init__(self) -> None:
        super().__init__()
        self._xy = (0.0, 0.0)

    def set_position_um(self, x: float, y: float) -> None:
        self._xy = (float(x), float(y))

    def get_position_um(self) -> tuple[float, float]:
        return self._xy

    def set_origin_x(self) -> None:
        self._xy = (0.0, self._xy[1])

    def set_origin_y(self) -> None:
        self._xy = (self._xy[0], 0.0)

    def home(self) -> None:
        self._xy = (0.0, 0.0)

    def stop(self) -> None:
        pass


class DemoZStage(StageDevice):
    """A focus drive that moves instantly."""

    def __init__(self) -> None:
        super().__init__()
        self._z = 0.0

    def set_position_um(self, val: float) -> None:
        self._z = float(val)

    def get_position_um(self) -> float:
        return self._z

    def set_origin(self) -> None:
        self._z = 0.0

    def home(self) -> None:
        self._z = 0.0

    def stop(self) -> None:
        pass


class DemoShutter(ShutterDevice):
    """A shutter that opens and closes instantly."""

    def __init__(self) -> None:
        super().__init__()
        self._open = False

    def get_open(self) -> bool:
        return self._open

    def set_open(self, open: bool) -> None:
        self._open = bool(open)


class DemoCore(UniMMCore):
    """A `UniMMCore` whose bit depth is its Python camera's pixel format.

    `UniMMCore` reports a Python camera's pixel type width (16 for a 12-bit
    camera in ``uint16``); this one reports the bits the camera fills, as
    Micro-Manager's C++ cameras do.
    """

    def getImageBitDepth(self) -> int:
        label = self.getCameraDevice()
        if label and self.isPyDevice(label) and self.hasProperty(label, "PixelFormat"):
            value = self.getProperty(label, "PixelFormat")
            fmt = str(getattr(value, "value", value) or "")
            if fmt.startswith("Mono") and fmt[4:].isdigit():
                return int(fmt[4:])
        return int(super().getImageBitDepth())


def demo_core(
    *,
    width: int = 512,
    height: int = 512,
    dtype: str = "uint16",
    bit_depth: int = 12,
    pixel_size_um: float | None = 0.5,
    exposure_ms: float = 10.0,
) -> DemoCore:
    """A configured `UniMMCore` with the demo devices loaded.

    Parameters
    ----------
    width, height : int
        Camera frame size.
    dtype : str
        Pixel type (uint8/16/32).
    bit_depth : int
        Bit depth (8, 10, 12, 14, 16 or 32; pixel values stay below
        ``2**bit_depth``). ``core.getImageBitDepth()`` reports it; change it
        with ``core.setProperty("Camera", "PixelFormat", "Mono10")``.
    pixel_size_um : float | None
        Pixel-size calibration; None or 0 leave the core uncalibrated (it then
        reports 0, as an unconfigured microscope does).
    exposure_ms : float
        Initial exposure.
    """
    if pixel_size_um is not None and pixel_size_um < 0:
        raise ValueError(f"pixel_size_um must be positive or None, got {pixel_size_um}")
    # no Micro-Manager installation is needed: silence the search for one
    log = logging.getLogger("pymmcore-plus")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        core = DemoCore()
    finally:
        log.setLevel(level)
    atexit.register(_detach_at_exit, weakref.ref(core))
    devices = {
        "Camera": DemoCamera(width, height, dtype, bit_depth),
        "XY": DemoXYStage(),
        "Z": DemoZStage(),
        "Shutter": DemoShutter(),
    }
    for label, device in devices.items():
        core.loadPyDevice(label, device)
        core.initializeDevice(label)
    core.setCameraDevice("Camera")
    core.setXYStageDevice("XY")
    core.setFocusDevice("Z")
    core.setShutterDevice("Shutter")
    for name in CHANNELS:
        core.defineConfig("Channel", name, "Camera", "fluorophore", name)
    core.setChannelGroup("Channel")
    if pixel_size_um:
        # the C++ core matches calibrations against properties it knows: key this
        # one on a Core property that never changes during an acquisition
        timeout = core.getProperty("Core", "TimeoutMs")
        core.definePixelSizeConfig("Demo", "Core", "TimeoutMs", timeout)
        core.setPixelSizeUm("Demo", float(pixel_size_um))
        core.setPixelSizeConfig("Demo")
    core.setExposure(exposure_ms)
    return core


def _detach_at_exit(ref: weakref.ReferenceType[DemoCore]) -> None:
    """Stop core callbacks before interpreter shutdown.

    A core still alive at exit otherwise delivers queued notifications from its
    notification thread while Python finalizes, which aborts the process.
    """
    core = ref()
    if core is not None:
        with contextlib.suppress(Exception):
            super(CMMCorePlus, core).registerCallback(None)
