import numpy as np

from competency_cf.competency.examples import first_factor_below


def test_first_factor_in_list_order():
    competency = np.array([
        [0.95, 0.5, 0.2],   # second factor is the first below
        [0.3, 0.95, 0.1],   # first factor already below
        [0.95, 0.92, 0.91],  # never below
    ])
    assert first_factor_below(competency, 0.9).tolist() == [1, 0, -1]
