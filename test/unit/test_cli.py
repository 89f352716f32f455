import pytest

from competency_cf.cli import build_parser, main


def test_missing_models_directory_is_a_clear_error(tmp_path, capsys):
    code = main(["calibrate-report", "--domain", "speed", "--models", str(tmp_path / "none")])
    assert code == 2
    error = capsys.readouterr().err
    assert "calibrate-report: error" in error and str(tmp_path / "none") in error


def test_unknown_domain_is_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--domain", "mars"])


def test_render_writes_a_contact_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["render", "--domain", "speed", "--columns", "2", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_score_demo_scores_and_writes_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["score-demo", "--domain", "speed"]) == 0
    printed = capsys.readouterr().out
    assert "clean images the networks never saw" in printed
    assert "noise       x20:" in printed and "spatial anomalies (20)" in printed
    assert (tmp_path / "demo_out" / "speed_competency.png").is_file()


@pytest.mark.parametrize("argv", [
    ["train", "--threshold", "1.5"],
    ["train", "--classifier-epochs", "0"],
    ["examples", "--per-cause", "-3"],
    ["fit-fused", "--false-alarm-budget", "1.5"],
    ["fit-fused", "--floor", "-0.1"],
])
def test_bad_numbers_are_rejected_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_augmentation_takes_only_tuning_corruptions(capsys):
    args = build_parser().parse_args(["train", "--augment", "speckle_noise, gaussian_blur"])
    assert args.augment == ("speckle_noise", "gaussian_blur")
    assert build_parser().parse_args(["train"]).augment == ()
    assert build_parser().parse_args(["train", "--augmix"]).augmix
    assert not build_parser().parse_args(["train"]).augmix
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--augment", "gaussian_blur,fog"])
    assert "tuning corruptions" in capsys.readouterr().err


def test_estimator_flag_takes_only_known_estimators(capsys):
    args = build_parser().parse_args(["export-onnx", "--estimator", "parce"])
    assert args.estimator == "parce"
    assert build_parser().parse_args(["score-demo"]).estimator == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--estimator", "fusion"])
    assert "invalid choice" in capsys.readouterr().err


def test_explain_generality_refuses_unknown_causes_before_any_work(capsys):
    assert main(["explain-generality", "--domain", "speed", "--causes", "blur", "rain"]) == 2
    error = capsys.readouterr().err
    assert "explain-generality: error" in error and "rain" in error


def test_explain_generality_takes_the_rendering_flags():
    args = build_parser().parse_args(["explain-generality", "--no-cache", "--seed", "2"])
    assert args.no_cache and args.seed == 2 and args.causes is None
