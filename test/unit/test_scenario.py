import pytest
import torch

from competency_cf.data.domains import get_domain
from competency_cf.data.field_causes import FIELD_CAUSES
from competency_cf.data.scenario import FIELD_DEFAULTS, NOMINAL, Scenario, Segment, scenario_frame
from competency_cf.resources import config_file


def test_shipped_scenarios_load_and_cover_every_field_cause():
    played = set()
    for domain in ("lunar", "speed"):
        scenario = Scenario.load(config_file(f"scenarios/{domain}.yaml"))
        played |= {segment.cause for segment in scenario.segments}
    assert set(FIELD_CAUSES) <= played


def test_field_segments_draw_with_their_implementation_and_keep_its_placement():
    domain = get_domain("speed")
    nominal = Segment(NOMINAL, 5.0)
    occluded = Segment("occlusion", 5.0, (0.4, 0.4), seed=3)
    clean = scenario_frame(domain, nominal, 1.0, 0, 10.0)
    first = scenario_frame(domain, occluded, 0.4, 0, 10.0)
    assert first.shape == clean.shape and not torch.equal(first, clean)
    assert torch.equal(first, scenario_frame(domain, occluded, 0.4, 0, 10.0))
    # The placement comes from the segment, not the frame: every frame of the segment is its
    # nominal frame drawn with the segment's seed, and another segment position moves it.
    drawn_by = occluded.drawn_by()
    for index in (0, 3, 25):
        nominal_frame = scenario_frame(domain, nominal, 1.0, index, 10.0)[None]
        assert torch.equal(scenario_frame(domain, occluded, 0.4, index, 10.0),
                           drawn_by.apply(nominal_frame, 0.4, seed=3, domain="speed")[0])
    moved = scenario_frame(domain, Segment("occlusion", 5.0, (0.4, 0.4), seed=4), 0.4, 0, 10.0)
    assert not torch.equal(moved, first)
    assert occluded.drawn_by().name == FIELD_DEFAULTS["occlusion"]


def test_integer_implementations_take_ramps_level_by_level():
    segment = Segment("blur", 5.0, (2.0, 5.0), "imagenet_c_gaussian_blur")
    frame = scenario_frame(get_domain("lunar"), segment, segment.factor_at(0.4), 0, 10.0)
    assert frame.shape == (3, 64, 64) and 0.0 <= float(frame.min()) <= float(frame.max()) <= 1.0


@pytest.mark.parametrize("entries, message", [
    ({"cause": "smear", "seconds": 2}, "unknown segment cause 'smear'"),
    ({"cause": "noise", "seconds": 2, "implementation": "uniform_noise"},
     "only field causes"),
    ({"cause": "haze", "seconds": 2, "factor": 0.5, "implementation": "dark_blobs"},
     "'dark_blobs' draws occlusion, not haze"),
    ({"cause": "haze", "seconds": 2, "factor": 1.5}, "graded_haze: strength must be"),
    ({"cause": "glare", "seconds": 2, "factor": 1.0, "implementation": "lens_flare_9"},
     "unknown implementation 'lens_flare_9'"),
])
def test_bad_segments_are_refused_with_the_reason(entries, message):
    with pytest.raises(ValueError, match=message):
        Scenario.from_dict({"segments": [entries]}, "test.yaml")
