import numpy as np

from competency_cf.ros.overlay import BAR_HEIGHT, debug_overlay


def test_a_wide_frame_is_thinned_to_the_width_limit():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, ::2] = 255  # every other column white: thinning by 2 keeps only white ones
    image = debug_overlay(frame, 0.5, 0.9, "crater", max_width=640)
    assert image.shape[1] == 640 and image.shape[0] > 360 + BAR_HEIGHT
    assert (image[:360] == 255).all()
    assert debug_overlay(frame, 0.5, 0.9, "crater").shape[1] == 1280  # 0: no limit


def test_the_bar_shows_competency_against_the_threshold():
    frame = np.zeros((300, 400, 3), np.uint8)
    low = debug_overlay(frame, 0.25, 0.9, "crater")
    bar = low[300:300 + BAR_HEIGHT - 1]
    red = (bar[..., 0] > 200) & (bar[..., 1] < 100)
    assert red[:, :99].all() and not red[:, 101:].any()  # a quarter of the width, in red
    high = debug_overlay(frame, 0.95, 0.9, "crater")
    assert (high[300:305, :370, 1] > 150).all()  # green when competent
