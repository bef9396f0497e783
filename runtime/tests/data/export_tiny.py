#!/usr/bin/env python3
"""An exporter written from runtime/FORMAT.md alone (standard library only).

Writes the tiny models of FORMAT.md's worked examples, quantizing the int8 ones from their
float weights by the rules on that page, to DIR/tiny-f32.tmlp and DIR/tiny-int8.tmlp (two
pixels in), and DIR/tiny-features-int8.tmlp (two raw features in, with their
standardization, a model name and class names). `tests/golden.rs` runs it and checks the
bytes equal the Rust encoder's.

    python3 runtime/tests/data/export_tiny.py DIR
"""

import math
import pathlib
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n == 0:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def zigzag_i32(n):
    return varint(((n << 1) ^ (n >> 31)) & 0xFFFFFFFF)


def f32(x):
    return struct.pack("<f", x)


def f32_round(x):
    return struct.unpack("<f", f32(x))[0]


def byte_array(data):
    return varint(len(data)) + bytes(data)


def f32_array(values):
    return byte_array(b"".join(f32(v) for v in values))


def i32_array(values):
    return byte_array(b"".join(struct.pack("<i", v) for v in values))


def i8_array(values):
    return byte_array(struct.pack(f"<{len(values)}b", *values))


def string(text):
    data = text.encode("utf-8")
    assert 1 <= len(data) <= 255
    return byte_array(data)


def quantization(scale, zero_point):
    return f32(scale) + zigzag_i32(zero_point)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def round_half_away(x):
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real):
    fraction, exponent = math.frexp(real)
    q = round_half_away(fraction * (1 << 31))
    if q == 1 << 31:
        q //= 2
        exponent += 1
    assert (1 << 30) <= q < (1 << 31) and -31 <= exponent <= 30
    return q, exponent


FORMAT_VERSION = 3
RELU, SOFTMAX = 1, 2
F32_PARAMS, INT8_PARAMS = 0, 1
PIXELS_INPUT, FEATURES_INPUT = 0, 1

INPUT_SCALE = f32_round(1 / 255)  # what the blob stores, and so what every formula uses
INPUT_ZERO_POINT = 0
PIXELS = 2
# Input-major float weights and biases of the worked example.
LAYERS = [
    ([0.5, -0.25, -0.5, 1.0], [0.125, -0.0625], RELU),
    ([1.0, -1.0, -0.5, 0.75], [0.0, 0.25], SOFTMAX),
]
# The example's chosen quantization: power-of-two weight scales, hidden output (2^-7, -128).
WEIGHT_SCALES = [[2**-7, 2**-6], [2**-6, 2**-6]]
HIDDEN_OUTPUT = (2**-7, -128)

# The feature model: raw temperature (degrees C) and pressure (hPa), standardized with the
# training set's mean and 1 / deviation, then quantized to int8 at 2^-5, zero point 0.
FEATURE_OFFSETS = [20.0, 1000.0]
FEATURE_SCALES = [0.5, 0.125]
FEATURE_QUANTIZATION = (2**-5, 0)
MODEL_NAME = "weather"
CLASS_NAMES = ["dry", "rain"]

PIXEL_INPUT = (
    varint(PIXELS_INPUT)
    + varint(PIXELS) + varint(1) + varint(1) + f32(INPUT_SCALE) + bytes([INPUT_ZERO_POINT])
)
FEATURE_INPUT = varint(FEATURES_INPUT) + f32_array(FEATURE_OFFSETS) + f32_array(FEATURE_SCALES)


def names(name, class_names):
    optional_name = b"\x00" if name is None else b"\x01" + string(name)
    return optional_name + varint(len(class_names)) + b"".join(map(string, class_names))


def blob(layers_bytes, model_input=PIXEL_INPUT, model_names=names(None, [])):
    body = (
        model_input
        + varint(2)  # classes
        + model_names
        + varint(len(layers_bytes))
        + b"".join(layers_bytes)
    )
    total = 4 + 1 + 4 + len(body) + 4
    contents = b"TMLP" + varint(FORMAT_VERSION) + struct.pack("<I", total) + body
    return contents + struct.pack("<I", crc32c(contents))


def f32_model():
    layers = []
    for weights, bias, activation in LAYERS:
        outputs = len(bias)
        inputs = len(weights) // outputs
        layers.append(
            varint(inputs) + varint(outputs) + varint(activation) + varint(F32_PARAMS)
            + f32_array(weights) + f32_array(bias)
        )
    return blob(layers)


def int8_layers(input_scale, input_zero_point):
    layers = []
    for index, ((weights, bias, activation), scales) in enumerate(zip(LAYERS, WEIGHT_SCALES)):
        outputs = len(bias)
        inputs = len(weights) // outputs
        q_weights = [
            max(-127, min(127, round_half_away(w / scales[i % outputs])))
            for i, w in enumerate(weights)
        ]
        q_bias = [round_half_away(b / (input_scale * s)) for b, s in zip(bias, scales)]
        # Fold the input zero point into the bias: bias[k] -= zero_point * sum_j w[j][k].
        q_bias = [
            b - input_zero_point * sum(q_weights[k::outputs]) for k, b in enumerate(q_bias)
        ]
        assert all(-2**31 <= b < 2**31 for b in q_bias)
        layer = (
            varint(inputs) + varint(outputs) + varint(activation) + varint(INT8_PARAMS)
            + quantization(input_scale, input_zero_point)
            + i8_array(q_weights) + f32_array(scales) + i32_array(q_bias)
        )
        if index + 1 < len(LAYERS):
            out_scale, out_zero_point = HIDDEN_OUTPUT
            pairs = [quantize_multiplier(input_scale * s / out_scale) for s in scales]
            layer += (
                b"\x01"
                + i32_array([m for m, _ in pairs])
                + i8_array([s for _, s in pairs])
                + quantization(out_scale, out_zero_point)
            )
            input_scale, input_zero_point = out_scale, out_zero_point
        else:
            layer += b"\x00"
        layers.append(layer)
    return layers


def int8_model():
    return blob(int8_layers(INPUT_SCALE, INPUT_ZERO_POINT))


def features_int8_model():
    return blob(
        int8_layers(*FEATURE_QUANTIZATION),
        FEATURE_INPUT,
        names(MODEL_NAME, CLASS_NAMES),
    )


def main():
    assert crc32c(b"123456789") == 0xE3069283
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "tiny-f32.tmlp").write_bytes(f32_model())
    (out / "tiny-int8.tmlp").write_bytes(int8_model())
    (out / "tiny-features-int8.tmlp").write_bytes(features_int8_model())


if __name__ == "__main__":
    main()
