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


def test_a_heat_map_tints_where_the_explanation_places_its_cause():
    frame = np.full((80, 80, 3), 100, np.uint8)
    weights = np.zeros((8, 8), np.float32)
    weights[0, 7] = 1.0   # upper right: the place
    weights[7, 0] = 0.5   # lower left: half as heavy, half the tint
    weights[4, 4] = 0.1   # below the floor: untouched
    image = debug_overlay(frame, 0.2, 0.9, "crater", heat_map=weights)
    scale = image.shape[1] // 80  # small frames are enlarged for reading
    cell = 10 * scale
    upper_right = image[:cell, -cell:].reshape(-1, 3)
    lower_left = image[7 * cell:8 * cell, :cell].reshape(-1, 3)
    assert (upper_right == [178, 70, 70]).all()  # 100 + 0.5 * (255 - 100), 100 - 0.5 * 60
    assert (lower_left[:, 0] > 100).all() and (lower_left[:, 0] < upper_right[:, 0]).all()
    assert (image[4 * cell:5 * cell, 4 * cell:5 * cell] == 100).all()
    assert (image[:8 * cell, :8 * cell, 0] != 100).sum() == 2 * cell * cell  # only those two
    untinted = debug_overlay(frame, 0.2, 0.9, "crater")
    assert (untinted[:8 * cell, :8 * cell] == 100).all()
