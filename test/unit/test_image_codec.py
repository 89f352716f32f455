"""Image conversion through real CDR serialisation: every encoding, padding, endianness."""

import numpy as np
import pytest
import torch

from competency_cf.ros.image_codec import (ENCODINGS, ImageDecodeError, decode, encode,
                                           encode_compressed, rgb_to_tensor, tensor_to_msg,
                                           to_rgb, to_rgb8, to_rgb_float, to_tensor)


def _round_trip(msg):
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    return deserialize_message(serialize_message(msg), Image)


def _sample(encoding, rng):
    code, channels = ENCODINGS[encoding]
    shape = (5, 7, channels)
    if code == "f4":
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(np.dtype(code)).max, shape, endpoint=True).astype(code)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_encode_serialise_decode_round_trip(encoding):
    array = _sample(encoding, np.random.default_rng(0))
    decoded = decode(_round_trip(encode(array, encoding)))
    assert decoded.dtype == array.dtype and np.array_equal(decoded, array)


@pytest.mark.parametrize("encoding", ["rgb8", "mono16", "32FC1"])
def test_row_padding_and_big_endian_data(encoding):
    from sensor_msgs.msg import Image

    array = _sample(encoding, np.random.default_rng(1))
    code, channels = ENCODINGS[encoding]
    big = array.astype(np.dtype(code).newbyteorder(">"))
    row = array.shape[1] * channels * big.itemsize
    padded = np.zeros((array.shape[0], row + 6), np.uint8)
    padded[:, :row] = np.frombuffer(big.tobytes(), np.uint8).reshape(array.shape[0], row)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=1,
                step=row + 6, data=padded.tobytes())
    assert np.array_equal(decode(_round_trip(msg)), array)


def test_bgr_and_mono_become_rgb_in_unit_range():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # red
    as_bgr = encode(rgb[..., ::-1], "bgr8")
    assert np.allclose(to_rgb_float(as_bgr)[..., 0], 1.0)
    assert np.allclose(to_rgb_float(as_bgr)[..., 2], 0.0)
    mono = encode(np.full((2, 2), 65535, np.uint16), "mono16")
    assert np.allclose(to_rgb_float(mono), 1.0)
    tensor = to_tensor(encode(np.full((10, 20, 4), 128, np.uint8), "rgba8"), size=8)
    assert tensor.shape == (1, 3, 8, 8) and abs(float(tensor.mean()) - 128 / 255) < 1e-3


def test_8_bit_frames_stay_uint8_until_the_tensor():
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    decoded = to_rgb(_round_trip(encode(rgb, "rgb8")))
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, rgb)
    assert to_rgb8(decoded) is decoded
    # Converting on the tensor's device gives what converting the whole frame first gave.
    assert torch.allclose(rgb_to_tensor(rgb, 8), rgb_to_tensor(rgb.astype(np.float32) / 255, 8),
                          atol=1e-6)
    deep = to_rgb(encode(np.full((2, 2), 65535, np.uint16), "mono16"))
    assert deep.dtype == np.float32 and np.array_equal(to_rgb8(deep), np.full((2, 2, 3), 255))


def test_tensor_to_msg_and_back():
    image = torch.rand((3, 6, 9), generator=torch.Generator().manual_seed(0))
    back = to_tensor(_round_trip(tensor_to_msg(image)))
    assert back.shape == (1, 3, 6, 9) and torch.allclose(back[0], image, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("change, message", [
    (dict(encoding="yuv422"), "unsupported encoding"),
    (dict(step=3), "shorter than a row"),
    (dict(data=b"\x00" * 10), "data bytes"),
    (dict(height=0), "empty image"),
])
def test_malformed_messages_raise_a_clear_error(change, message):
    msg = encode(np.zeros((4, 4, 3), np.uint8), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageDecodeError, match=message):
        decode(msg)


def test_compressed_images_decode_and_bad_ones_raise():
    from sensor_msgs.msg import CompressedImage

    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (200, 30, 30)
    png = _round_trip_compressed(encode_compressed(rgb, "png"))
    assert np.array_equal((to_rgb_float(png) * 255).round().astype(np.uint8), rgb)
    jpeg = encode_compressed(rgb, "jpeg")
    assert np.abs(to_rgb_float(jpeg) * 255 - rgb).mean() < 8.0
    assert to_tensor(jpeg, size=8).shape == (1, 3, 8, 8)
    with pytest.raises(ImageDecodeError, match="compressed"):
        to_rgb_float(CompressedImage(format="jpeg", data=b"not a jpeg"))


def _round_trip_compressed(msg):
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CompressedImage

    return deserialize_message(serialize_message(msg), CompressedImage)
