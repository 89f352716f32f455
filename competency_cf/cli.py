"""`competency-cf`: train models, build example sets, report calibration, run the demo."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from competency_cf import __version__
from competency_cf.counterfactual.methods import METHODS
from competency_cf.data.domains import DOMAINS, get_domain


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1], got {text}")
    return value


def _augmentation(text: str) -> tuple[str, ...]:
    from competency_cf.data.augmentation import check_augmentation

    try:
        return check_augmentation(name.strip() for name in text.split(",") if name.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_domain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", default="lunar", choices=sorted(DOMAINS),
                        help="built-in domain (default: lunar)")


def _add_models(parser: argparse.ArgumentParser, device: bool = True) -> None:
    parser.add_argument("--models", type=Path, default=None,
                        help="models directory (default: the installed models/<domain>)")
    if device:
        parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def _add_estimator(parser: argparse.ArgumentParser) -> None:
    from competency_cf.competency.parce import ESTIMATORS

    parser.add_argument("--estimator", default="auto", choices=ESTIMATORS,
                        help="competency estimator: parce (the paper's), fused (fused.json) or "
                        "auto (the models' default; default)")


def _models_dir(args, domain: str | None = None) -> Path:
    from competency_cf.resources import models_dir

    return args.models if args.models is not None else models_dir(domain or args.domain)


def _render(args):
    from competency_cf.data.synthesize import render_domain

    return render_domain(get_domain(args.domain), use_cache=not args.no_cache)


def cmd_train(args) -> int:
    from competency_cf.competency.parce import PARCE_JSON, ParceEstimator
    from competency_cf.networks.autoencoder import ConvAutoencoder
    from competency_cf.networks.classifier import ConvClassifier
    from competency_cf.networks.store import DomainModels, save_models
    from competency_cf.networks.training import train_autoencoder, train_classifier

    domain = get_domain(args.domain)
    out = args.out if args.out is not None else Path("models") / domain.name
    started = time.time()
    data = _render(args)
    torch.manual_seed(args.seed)
    classifier = ConvClassifier(domain.num_classes)
    autoencoder = ConvAutoencoder(domain.image_size, latent_dim=args.latent_dim)
    classifier_data = data.train
    if args.augment or args.augmix:
        from competency_cf.data.augmentation import augmented

        classifier_data = augmented(data.train, args.augment, seed=args.seed,
                                    augmix=args.augmix)
    classifier_history = train_classifier(classifier, classifier_data,
                                          epochs=args.classifier_epochs, seed=args.seed)
    autoencoder_history = train_autoencoder(autoencoder, data.train,
                                            epochs=args.autoencoder_epochs, seed=args.seed)
    estimator = ParceEstimator(classifier, autoencoder).eval()
    estimator.fit(data.calibration.images, data.calibration.labels, threshold=args.threshold)
    test = estimator.evaluate(data.test.images)
    test_accuracy = float((test.prediction == data.test.labels).float().mean())
    provenance = {
        "command": "competency-cf " + " ".join(sys.argv[1:]) if sys.argv else "",
        "package_version": __version__,
        "domain": domain.name,
        "seed": args.seed,
        "data": {"train": len(data.train), "calibration": len(data.calibration),
                 "test": len(data.test), "ood": len(data.ood),
                 "images_per_class": domain.images_per_class, "renderer": domain.renderer_module},
        "classifier": {"epochs": args.classifier_epochs, "final_loss": classifier_history.loss[-1],
                       "augmentation": list(args.augment), "augmix": args.augmix,
                       "final_train_accuracy": classifier_history.accuracy[-1]},
        "autoencoder": {"epochs": args.autoencoder_epochs,
                        "final_mse": autoencoder_history.loss[-1]},
        "test_accuracy": test_accuracy,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seconds": round(time.time() - started, 1),
    }
    models = DomainModels(classifier, autoencoder, domain.class_names, domain.image_size, {})
    save_models(out, models, provenance)
    estimator.calibration.save(out / PARCE_JSON)
    _fit_explainer(estimator, domain, data, out)
    _fit_fused(out, data, args.threshold)
    calibration = estimator.calibration
    print(f"wrote {out}/: classifier, autoencoder, model.json, {PARCE_JSON}, "
          "descriptor_explainer.json")
    print(f"ID test accuracy: {test_accuracy:.4f} ({len(data.test)} images)")
    print(f"calibration: accuracy {calibration.calibration_accuracy:.4f}, mean competency "
          f"{calibration.calibration_mean_competency:.4f}, z* {calibration.z_star:.2f}")
    return 0


def _fit_explainer(estimator, domain, data, models: Path, per_cause: int = 500,
                   variants_per_cause: int = 500) -> Path:
    from competency_cf.explain.descriptor_explainer import FILE_NAME
    from competency_cf.explain.training_set import fit_descriptor_explainer

    from competency_cf.counterfactual.methods import LNN_BANK_FILE, LatentNearestNeighbor

    path = models / FILE_NAME
    explainer, counts = fit_descriptor_explainer(estimator, domain, data, per_cause=per_cause,
                                                 variants_per_cause=variants_per_cause)
    explainer.save(path)
    print(f"descriptor explainer trained on {counts}")
    # The robot's LNN bank: calibration latents, so nodes need not render the calibration split.
    LatentNearestNeighbor(estimator).fit(data.calibration.images).save_bank(
        models / LNN_BANK_FILE)
    return _fit_unsure(estimator, domain, models)


def _fit_unsure(estimator, domain, models: Path, seed: int = 0,
                budget: float | None = None) -> Path:
    from competency_cf.explain.descriptor_explainer import FILE_NAME, DescriptorExplainer
    from competency_cf.explain.training_set import fit_decision_rules
    from competency_cf.explain.unsure import DEFAULT_BUDGET

    path = models / FILE_NAME
    explainer = DescriptorExplainer.load(path)
    explainer.unsure_rule, offsets, frames = fit_decision_rules(
        explainer, estimator, domain, models, seed=seed,
        budget=DEFAULT_BUDGET if budget is None else budget)
    explainer.save(path)
    rule = explainer.unsure_rule
    print(f"on {frames} fit-group frames: field offsets "
          + (", ".join(f"{mode} {offset:.2f}" for mode, offset in offsets.items()) or "none")
          + f"; unsure distance limit {rule.distance_limit:.1f}, margin limits "
          + ", ".join(f"{mode} {limit:.3f}" for mode, limit in rule.margin_limits.items()))
    return path


def cmd_fit_unsure(args) -> int:
    from competency_cf.competency.parce import load_estimator

    models = _models_dir(args)
    path = _fit_unsure(load_estimator(models, args.device), get_domain(args.domain), models,
                       args.seed, args.budget)
    print(f"wrote {path}")
    return 0


def _fit_fused(models: Path, data, threshold: float, default: bool = False,
               false_alarm_budget: float | None = None, device: str = "cpu",
               floor: float | None = None) -> Path:
    from competency_cf.competency.fused import (DEFAULT_FALSE_ALARM_BUDGET, FUSED_JSON,
                                                UNFAMILIAR_FLOOR, FusedEstimator)
    from competency_cf.networks.store import load_models, read_model_json

    loaded = load_models(models, device)
    estimator = FusedEstimator(loaded.classifier, loaded.autoencoder).eval()
    estimator.fit(data.calibration.images, data.calibration.labels, data.train.images,
                  data.train.labels, threshold=threshold,
                  false_alarm_budget=DEFAULT_FALSE_ALARM_BUDGET if false_alarm_budget is None
                  else false_alarm_budget,
                  classifier_sha256=read_model_json(models)["sha256"]["classifier.safetensors"],
                  default=default, floor=UNFAMILIAR_FLOOR if floor is None else floor)
    estimator.calibration.save(models / FUSED_JSON)
    calibration = estimator.calibration
    print(f"fused estimator: z* {calibration.z_star:.2f}, floor {calibration.floor:.2f}, "
          f"calibration accuracy {calibration.calibration_accuracy:.4f}, mean competency "
          f"{calibration.calibration_mean_competency:.4f}{' (default)' if default else ''}")
    return models / FUSED_JSON


def cmd_fit_fused(args) -> int:
    models = _models_dir(args)
    path = _fit_fused(models, _render(args), args.threshold, args.default,
                      args.false_alarm_budget, args.device, args.floor)
    print(f"wrote {path}")
    return 0


def cmd_fit_explainer(args) -> int:
    from competency_cf.competency.parce import load_estimator

    models = _models_dir(args)
    estimator = load_estimator(models, args.device)
    out = args.out if args.out is not None else models
    out.mkdir(parents=True, exist_ok=True)
    domain = get_domain(args.domain)
    path = _fit_explainer(estimator, domain, _render(args), out, args.per_cause,
                          args.variants_per_cause)
    print(f"wrote {path} and the LNN bank next to it")
    return 0


def cmd_explain_generality(args) -> int:
    from competency_cf.competency.parce import load_estimator
    from competency_cf.data.cause_implementations import EXPLAINED_CAUSES
    from competency_cf.evaluation.explainer_generality import (cause_means, check_causes,
                                                               leave_one_way_out, write_report)
    from competency_cf.explain.training_set import (decision_frames, explainer_features,
                                                    labelled_training_frames,
                                                    training_counterfactuals)

    causes = tuple(args.causes) if args.causes else EXPLAINED_CAUSES
    check_causes(causes)  # before any rendering
    domain = get_domain(args.domain)
    models = _models_dir(args)
    estimator = load_estimator(models, args.device)
    data = _render(args)
    training = labelled_training_frames(estimator, domain, data, args.per_cause,
                                        args.variants_per_cause)
    scores = leave_one_way_out(
        explainer_features(estimator, data), training,
        training_counterfactuals(estimator, data, training.images),
        decision_frames(estimator, domain, models, seed=args.seed), causes)
    out = args.out if args.out is not None else Path("results") / domain.name
    markdown, _ = write_report(scores, domain.name, out)
    for cause, values in cause_means(scores).items():
        print(f"{cause:12s} left out: " + ", ".join(f"{mode} {100 * value:.1f} %"
                                                    for mode, value in values.items()))
    print(f"wrote {markdown} and .json")
    return 0


def cmd_explain_eval(args) -> int:
    from competency_cf.competency.parce import load_estimator
    from competency_cf.competency.shifted_set import build_shifted_set, merge_shifted
    from competency_cf.data.cause_implementations import (IMPLEMENTATIONS,
                                                          OUTSIDE_IMPLEMENTATIONS)
    from competency_cf.evaluation.explanation_report import evaluate_explanations
    from competency_cf.evaluation.shift_report import evaluate_shifted_explanations
    from competency_cf.explain.factory import build_explainer

    domain = get_domain(args.domain)
    if args.seed < 0:
        raise ValueError(f"--seed must be non-negative, got {args.seed}")
    models = _models_dir(args)
    estimator = load_estimator(models, args.device)
    out = args.out if args.out is not None else Path("results") / domain.name
    data = _render(args)
    examples_path = args.examples if args.examples is not None else out / "examples.npz"
    examples = _load_or_build_examples(examples_path, estimator, domain, data, args.seed)
    explainer = build_explainer(args.backend, domain.name, models, llm_model=args.llm_model,
                                adapter=args.adapter, device=args.device,
                                allow_download=args.allow_download)
    report = evaluate_explanations(explainer, estimator, domain.name, examples,
                                   data.calibration.images, limit_per_cause=args.per_cause)
    stem = "explanations" if explainer.backend == "descriptor" else "explanations_llm"
    report.save(out, stem)
    print(report.to_markdown())
    print(f"wrote {out}/{stem}.md, .json")
    if args.no_shift:
        return 0
    shifted = merge_shifted([build_shifted_set(
        estimator, domain, args.shift_per_implementation, args.seed, implementations=chosen)
        for chosen in (IMPLEMENTATIONS, OUTSIDE_IMPLEMENTATIONS)])
    shift_report = evaluate_shifted_explanations(
        explainer, estimator, domain.name, shifted, data.calibration.images, args.seed,
        args.shift_per_implementation)
    shift_report.save(out, f"{stem}_shift")
    print(shift_report.to_markdown())
    print(f"wrote {out}/{stem}_shift.md, .json, .png")
    return 0


def cmd_finetune_explainer(args) -> int:
    from competency_cf.competency.parce import load_estimator
    from competency_cf.counterfactual.methods import build_method
    from competency_cf.explain.finetune import (FinetuneConfig, build_samples, finetune,
                                                save_adapter)
    from competency_cf.explain.llm import LlmUnavailable, load_mllama
    from competency_cf.explain.prompts import load_prompts
    from competency_cf.explain.training_set import (TRAINING_COUNTERFACTUALS,
                                                    labelled_training_frames)

    domain = get_domain(args.domain)
    config = FinetuneConfig(epochs=args.epochs, lr=args.lr, seed=args.seed)
    try:
        model, processor = load_mllama(args.model, args.device,
                                       allow_download=args.allow_download)
    except LlmUnavailable as error:
        raise RuntimeError(str(error)) from error
    estimator = load_estimator(_models_dir(args), args.device)
    data = _render(args)
    frames = labelled_training_frames(estimator, domain, data, args.per_cause,
                                      args.variants_per_cause, args.seed + 1)
    counterfactuals = {name: build_method(name, estimator,
                                          calibration_images=data.calibration.images)
                       .generate(frames.images).images for name in TRAINING_COUNTERFACTUALS}
    samples = build_samples(frames.images, frames.labels, load_prompts(domain.name),
                            counterfactuals)
    print(f"{len(samples)} training samples ({frames.counts()})")
    quantized = bool(getattr(model, "is_loaded_in_4bit", False))
    model, losses = finetune(model, processor, samples, config, quantized=quantized)
    out = args.out if args.out is not None else _models_dir(args) / "explainer_lora"
    save_adapter(model, out, config, losses, len(samples))
    print(f"epoch losses: {', '.join(f'{x:.4f}' for x in losses)}")
    print(f"wrote the LoRA adapter to {out} (use it with --adapter)")
    return 0


def cmd_examples(args) -> int:
    from competency_cf.competency.examples import build_examples
    from competency_cf.competency.parce import load_estimator

    domain = get_domain(args.domain)
    estimator = load_estimator(_models_dir(args), args.device)
    examples = build_examples(estimator, domain, _render(args), per_cause=args.per_cause,
                              seed=args.seed)
    out = args.out if args.out is not None else Path("results") / domain.name / "examples.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    examples.save(out)
    counts = examples.counts()
    print(f"wrote {out}: {len(examples)} images; per cause: "
          + ", ".join(f"{cause} {count}" for cause, count in counts.items()))
    short = [cause for cause, count in counts.items() if count < args.per_cause]
    if short:
        print(f"warning: fewer than {args.per_cause} examples for: {', '.join(short)}",
              file=sys.stderr)
    return 0


def _load_or_build_examples(path: Path, estimator, domain, data, seed: int = 0):
    """The saved example set at `path`, else a freshly built one (100 per cause), saved there."""
    from competency_cf.competency.examples import ExampleSet, build_examples

    if path.is_file():
        return ExampleSet.load(path)
    print(f"{path} not found: building the example set first")
    examples = build_examples(estimator, domain, data, per_cause=100, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    examples.save(path)
    return examples


def cmd_evaluate(args) -> int:
    from competency_cf.competency.parce import load_estimator
    from competency_cf.evaluation.counterfactual_report import (counterfactual_figure,
                                                                evaluate_counterfactuals)

    domain = get_domain(args.domain)
    estimator = load_estimator(_models_dir(args), args.device)
    out = args.out if args.out is not None else Path("results") / domain.name
    data = _render(args)
    examples_path = args.examples if args.examples is not None else out / "examples.npz"
    examples = _load_or_build_examples(examples_path, estimator, domain, data, args.seed)
    report, results = evaluate_counterfactuals(
        estimator, domain.name, examples, data.calibration.images, args.methods,
        config=args.config, lpips_weights=args.lpips_weights, fid_weights=args.fid_weights,
        device=args.device)
    stem = "counterfactuals" if args.config == "default" else f"counterfactuals_{args.config}"
    report.save(out, stem)
    counterfactual_figure(examples, results, out / f"{stem}.png",
                          f"{domain.name}: counterfactuals ({args.config}), caption: competency")
    print(report.to_markdown())
    print(f"wrote {out}/{stem}.md, .json, .png")
    return 0


def cmd_bench(args) -> int:
    import shutil
    import tempfile

    from competency_cf.competency.onnx_backend import ONNX_FILE, OnnxCompetency, export_onnx
    from competency_cf.competency.parce import load_estimator
    from competency_cf.data.synthesize import render_domain
    from competency_cf.evaluation.bench import (bench_counterfactuals, bench_explainer,
                                                bench_perception)
    from competency_cf.evaluation.bench_report import BenchReport, DomainBench
    from competency_cf.evaluation.replay_bench import bench_replay, format_replay_bench
    from competency_cf.explain.factory import load_descriptor_explainer
    from competency_cf.ros.camera_bench import bench_cameras
    from competency_cf.ros.graph_bench import bench_graph_in_child

    names = sorted(DOMAINS) if args.domain == "all" else [args.domain]
    # First, while this process is small: the end-to-end run measures its own process's memory.
    report = BenchReport(graph=bench_graph_in_child(names[0], args.triggers))
    print(report.graph.to_markdown())
    report.replay_domain = names[0]
    report.replay = bench_replay(names[0], _models_dir(args, names[0]))
    print(format_replay_bench(report.replay, names[0]))
    for name in names:
        domain = get_domain(name)
        estimator = load_estimator(_models_dir(args, name), "cpu")
        data = render_domain(domain)
        examples = _load_or_build_examples(Path("results") / name / "examples.npz",
                                           estimator, domain, data)
        counterfactual_rows = bench_counterfactuals(estimator, examples, data.calibration.images,
                                                    per_cause=args.per_cause)
        explainer_rows = bench_explainer(load_descriptor_explainer(_models_dir(args, name)),
                                         estimator, examples, data.calibration.images,
                                         per_cause=args.per_cause)
        # Perception with the estimator the node would run (`torch`, `onnx`), beside PaRCE in
        # the same run; the methods above use PaRCE, with which the example set is built.
        scorer = load_estimator(_models_dir(args, name), "cpu", kind=args.estimator)
        image_size = int(scorer.autoencoder.config["image_size"])
        with tempfile.TemporaryDirectory() as scratch:
            # A copy of the models with the exported graph beside them, as the node loads it.
            models = Path(scratch) / "models"
            shutil.copytree(_models_dir(args, name), models)
            graph = export_onnx(scorer, models / ONNX_FILE, image_size)
            scorers = {"torch": scorer, "onnx": OnnxCompetency(graph, scorer)}
            if scorer.name != "parce":
                scorers.update({"torch parce": estimator,
                                "onnx parce": OnnxCompetency(graph, estimator)})
            perception_rows = bench_perception(scorers, image_size)
            camera_rows = [row for backend in ("torch", "onnx") for row in bench_cameras(
                name, backend=backend, models_dir=str(models))]
        report.domains[name] = DomainBench(counterfactual_rows, explainer_rows, perception_rows,
                                           camera_rows)
    print(report.save(Path("results")))
    print("written: results/bench.md, results/bench.json")
    return 0


def cmd_robustness(args) -> int:
    from competency_cf.evaluation.robustness import load_competency_estimators, robustness

    estimators = load_competency_estimators(_models_dir(args), args.device)
    out = args.out if args.out is not None else Path("results") / args.domain
    report = robustness(args.domain, estimators, per_class=args.per_class, seed=args.seed)
    report.save(out)
    print(report.to_markdown())
    print(f"wrote {out}/robustness.md, robustness.json, robustness.png")
    return 0 if all(met for _, _, met in report.checks()) or not args.strict else 1


def cmd_calibrate_report(args) -> int:
    from competency_cf.competency.parce import load_estimator
    from competency_cf.evaluation.calibration_report import calibration_report

    domain = get_domain(args.domain)
    estimator = load_estimator(_models_dir(args), args.device)
    out = args.out if args.out is not None else Path("results") / domain.name
    out.mkdir(parents=True, exist_ok=True)
    report = calibration_report(estimator, domain, _render(args), seed=args.seed,
                                figure=out / "calibration.png")
    report.save(out)
    print(report.to_markdown())
    print(f"wrote {out}/calibration.md, calibration.json, calibration.png")
    return 0 if all(report.checks().values()) or not args.strict else 1


def cmd_render(args) -> int:
    from competency_cf.evaluation.figures import domain_contact_sheet

    domain = get_domain(args.domain)
    out = args.out if args.out is not None else Path("results") / domain.name / "domain.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    domain_contact_sheet(domain, out, columns=args.columns)
    print(f"wrote {out}")
    return 0


def cmd_demo(args) -> int:
    from competency_cf.ros.live_demo import run_live_demo

    return run_live_demo(args.domain, args.out)


def cmd_score_demo(args) -> int:
    from competency_cf.evaluation.demo import run_score_demo

    domains = sorted(DOMAINS) if args.domain == "all" else [args.domain]
    for name in domains:
        run_score_demo(get_domain(name), _models_dir(args, name), device=args.device,
                       estimator=args.estimator)
    return 0


def cmd_pipeline(args) -> int:
    from competency_cf.ros.pipeline import run_pipeline

    argv = ["--domain", args.domain]
    if args.params_file is not None:
        argv += ["--params-file", str(args.params_file)]
    if args.sim_camera:
        argv.append("--sim-camera")
    if args.namespace:
        argv += ["--namespace", args.namespace]
    if args.duration is not None:
        argv += ["--duration", str(args.duration)]
    return run_pipeline(argv + getattr(args, "ros_args", []))


def cmd_export_onnx(args) -> int:
    from competency_cf.competency.onnx_backend import ONNX_FILE, OnnxCompetency, export_onnx
    from competency_cf.competency.parce import load_estimator

    models = _models_dir(args)
    estimator = load_estimator(models, "cpu", kind=args.estimator)
    out = args.out if args.out is not None else models / ONNX_FILE
    image_size = int(estimator.autoencoder.config["image_size"])
    export_onnx(estimator, out, image_size)
    images = torch.rand((4, 3, image_size, image_size), generator=torch.Generator().manual_seed(0))
    difference = (OnnxCompetency(out, estimator).evaluate(images).competency
                  - estimator.evaluate(images).competency).abs().max()
    print(f"wrote {out} (max competency difference vs torch on random images: "
          f"{float(difference):.2e})")
    return 0


def cmd_soak(args) -> int:
    import json

    from competency_cf.ros.soak import soak

    width, height = (int(v) for v in args.size.lower().split("x"))
    result = soak(args.domain, args.duration, args.rate, width, height,
                  camera_process=args.camera_process, max_rate_hz=args.max_rate,
                  executor_kind=args.executor)
    out = Path("results")
    out.mkdir(exist_ok=True)
    name = "soak_camera_process" if args.camera_process else "soak"
    name += "" if args.executor == "events" else f"_{args.executor}"
    (out / f"{name}.md").write_text(result.to_markdown())
    (out / f"{name}.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    print(result.to_markdown())
    return 0 if all(result.verdict().values()) else 1


def cmd_record(args) -> int:
    from competency_cf.ros.recorder import parse_topics, record

    return record(args.out, args.duration, parse_topics(args.topics), args.namespace,
                  getattr(args, "ros_args", []), compress=args.zstd, split_mb=args.split_mb,
                  split_s=args.split_s)


def cmd_replay(args) -> int:
    from competency_cf.evaluation.replay import ReplaySettings, replay_bags

    models = list(args.models) + ([args.compare] if args.compare is not None else [])
    settings = ReplaySettings(
        estimator=args.estimator, device=args.device, threshold=args.threshold,
        hysteresis=args.hysteresis, cooldown_s=args.cooldown, lgd_iterations=args.lgd_iterations,
        seed=args.seed, batch_size=args.batch,
        camera_topics=tuple(t for t in (args.camera_topic or "").split(",") if t))
    rows = replay_bags(args.bags, models, args.out, settings, jobs=args.jobs,
                       ray_address=args.ray, progress=not args.quiet)
    for row in rows:
        if row["error"]:
            print(f"{row['path']}: error: {row['error']}", file=sys.stderr)
            continue
        for label, run in zip("AB", row["runs"]):
            parts = ([row["bag"]] if len(rows) > 1 else []) + \
                ([label] if len(row["runs"]) > 1 else [])
            name = " ".join(parts) + ": " if parts else ""
            print(f"{name}{run['frames']} frames, {run['triggers']} triggers, "
                  f"{run['frames_per_s']:.1f} frames/s -> {run['out']}")
        if row["comparison"]:
            print(f"comparison: {row['comparison']}")
        if row["damage"]:
            print(f"warning: damaged recording {row['path']}: {row['damage']}; replayed the "
                  "frames before the damage", file=sys.stderr)
    if len(rows) > 1:
        root = args.out if args.out is not None else Path("results") / "replay"
        print(f"wrote {root / 'fleet.md'}")
    return 0 if all(not row["error"] and not row["damage"] for row in rows) else 1


def cmd_report(args) -> int:
    from competency_cf.evaluation.run_report import report_bags

    rows = report_bags(args.bags, args.out, jobs=args.jobs, ray_address=args.ray,
                       gallery_size=args.gallery, progress=not args.quiet)
    for row in rows:
        if row.get("error"):
            print(f"{row['path']}: error: {row['error']}", file=sys.stderr)
        else:
            print(f"wrote {row['out']}/report.md and report.html")
    if len(rows) > 1:
        root = args.out if args.out is not None else Path("results") / "report"
        print(f"wrote {root / 'fleet.md'}")
    return 0 if all(not row.get("error") and not row.get("damage") for row in rows) else 1


def _add_fleet(parser: argparse.ArgumentParser, done: str) -> None:
    parser.add_argument("--jobs", type=_positive_int, default=1,
                        help=f"bags {done} in parallel local processes (default: 1)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help=f"bags {done} as tasks on the Ray cluster whose head is at ADDRESS "
                        "(host:port; --jobs is then unused, the cluster's CPUs set the "
                        "parallelism); every node needs this package and the bags, models and "
                        "--out at the same paths; needs pip install competency_cf[fleet]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="competency-cf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="render a domain, train both networks, calibrate")
    _add_domain(train)
    train.add_argument("--out", type=Path, default=None, help="output directory "
                       "(default: models/<domain>)")
    train.add_argument("--classifier-epochs", type=_positive_int, default=20,
                       help="classifier training epochs (default: 20)")
    train.add_argument("--autoencoder-epochs", type=_positive_int, default=25,
                       help="autoencoder training epochs (default: 25)")
    train.add_argument("--latent-dim", type=_positive_int, default=128,
                       help="autoencoder latent size (default: 128)")
    train.add_argument("--threshold", type=_unit_interval, default=0.9,
                       help="competency threshold stored in parce.json (default: 0.9)")
    train.add_argument("--augment", type=_augmentation, default=(), metavar="C1,C2",
                       help="train the classifier on the training split plus one copy of it "
                       "corrupted by these tuning corruptions at random severities (default: "
                       "none; the committed lunar models use speckle_noise,gaussian_blur)")
    train.add_argument("--augmix", action="store_true",
                       help="also train the classifier on one AugMix copy of the training split "
                       "(operations that overlap no common corruption only; the committed lunar "
                       "models use it)")
    train.set_defaults(handler=cmd_train)

    examples = commands.add_parser("examples", help="build the low-competency example set (.npz)")
    _add_domain(examples)
    _add_models(examples)
    examples.add_argument("--per-cause", type=_positive_int, default=100,
                          help="examples per cause (default: 100)")
    examples.add_argument("--out", type=Path, default=None,
                          help="output .npz (default: results/<domain>/examples.npz)")
    examples.set_defaults(handler=cmd_examples)

    evaluate = commands.add_parser("evaluate", help="every counterfactual method on the example "
                                   "set: the paper's Tables 1-2")
    _add_domain(evaluate)
    _add_models(evaluate)
    evaluate.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                          help="methods to run (default: all)")
    evaluate.add_argument("--config", default="default", choices=("default", "reference"),
                          help="tuned defaults, or the paper code's settings")
    evaluate.add_argument("--examples", type=Path, default=None,
                          help="example set .npz (default: results/<domain>/examples.npz, "
                          "built when missing)")
    evaluate.add_argument("--lpips-weights", type=Path, default=None,
                          help="AlexNet trunk weights (safetensors) for standard LPIPS; "
                          "without them the trunk is random")
    evaluate.add_argument("--fid-weights", type=Path, default=None,
                          help="torchvision Inception-v3 weights (safetensors) for FID/KID; "
                          "without them the domain classifier's features are used")
    evaluate.add_argument("--out", type=Path, default=None,
                          help="output directory (default: results/<domain>)")
    evaluate.set_defaults(handler=cmd_evaluate)

    fit = commands.add_parser("fit-explainer", help="fit the descriptor explainer's statistics "
                              "on the calibration split")
    _add_domain(fit)
    _add_models(fit)
    fit.add_argument("--out", type=Path, default=None,
                     help="output directory (default: the models directory)")
    fit.add_argument("--per-cause", type=_positive_int, default=500,
                     help="training images per cause from the generator (default: 500)")
    fit.add_argument("--variants-per-cause", type=_non_negative_int, default=500,
                     help="training images per cause from the fit group of other "
                     "implementations of each cause (data/cause_implementations.py; default: "
                     "500, 0: none)")
    fit.set_defaults(handler=cmd_fit_explainer)

    unsure = commands.add_parser("fit-unsure", help="set the descriptor explainer's field "
                                 "offsets and fit when it answers 'unsure' (a tie or no known "
                                 "cause fits), on known-cause frames of the fit group")
    _add_domain(unsure)
    _add_models(unsure)
    unsure.add_argument("--budget", type=float, default=None,
                        help="share of known-cause frames each criterion (tie, no fit) may call "
                        "unsure (default: 0.0025)")
    unsure.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of the frames (default: 0)")
    unsure.set_defaults(handler=cmd_fit_unsure)

    fused = commands.add_parser("fit-fused", help="fit the fused competency estimator "
                                "(fused.json) for existing models")
    _add_domain(fused)
    _add_models(fused)
    fused.add_argument("--threshold", type=_unit_interval, default=0.9,
                       help="competency threshold stored in fused.json (default: 0.9)")
    fused.add_argument("--false-alarm-budget", type=_unit_interval, default=None,
                       help="share of correctly classified calibration images the familiarity "
                       "signals may flag beyond the softmax alone (default: 0.002)")
    fused.add_argument("--floor", type=_unit_interval, default=None,
                       help="least share of the softmax confidence an unfamiliar image keeps; "
                       "below the threshold (default: 0.5; speed's committed file: 0.85)")
    fused.add_argument("--default", action="store_true",
                       help="make it the domain's default estimator (`--estimator auto`, the "
                       "perception node's `estimator: auto`)")
    fused.set_defaults(handler=cmd_fit_fused)

    explain = commands.add_parser("explain-eval", help="explanation accuracy per cause without "
                                  "and with counterfactuals (the paper's Tables 3-4), on the "
                                  "example set and on shifted causes (fit and held-out "
                                  "implementations)")
    _add_domain(explain)
    _add_models(explain)
    explain.add_argument("--backend", default="descriptor", choices=("descriptor", "llm"),
                         help="descriptor attribution (default) or the LLaMA 3.2 Vision explainer")
    explain.add_argument("--llm-model", type=Path, default=None,
                         help="local directory of a Mllama model (LLaMA 3.2 Vision)")
    explain.add_argument("--adapter", type=Path, default=None,
                         help="LoRA adapter directory from `finetune-explainer`")
    explain.add_argument("--allow-download", action="store_true",
                         help="let transformers fetch --llm-model from a model hub")
    explain.add_argument("--per-cause", type=_positive_int, default=None,
                         help="explain only the first N examples of each cause (LLM runs)")
    explain.add_argument("--examples", type=Path, default=None,
                         help="example set .npz (default: results/<domain>/examples.npz)")
    explain.add_argument("--shift-per-implementation", type=_positive_int, default=15,
                         metavar="N", help="low-competency frames per implementation of each "
                         "cause in the shifted set, fit and held-out groups (default: 15)")
    explain.add_argument("--no-shift", action="store_true",
                         help="skip the shifted set (explanations_shift.*)")
    explain.add_argument("--out", type=Path, default=None,
                         help="output directory (default: results/<domain>)")
    explain.set_defaults(handler=cmd_explain_eval)

    generality = commands.add_parser(
        "explain-generality", help="leave one way out: the descriptor explainer fitted without "
        "each fit-group implementation of a cause names that implementation's frames (a "
        "tuning-side estimate of how it meets a way of a cause it never saw)")
    _add_domain(generality)
    _add_models(generality)
    generality.add_argument("--causes", nargs="+", default=None, metavar="CAUSE",
                            help="causes whose fit-group ways are left out in turn (default: "
                            "all the explainer names)")
    generality.add_argument("--per-cause", type=_positive_int, default=500,
                            help="training images per cause from the generator (default: 500)")
    generality.add_argument("--variants-per-cause", type=_positive_int, default=500,
                            help="training images per cause from the fit group (default: 500)")
    generality.add_argument("--out", type=Path, default=None,
                            help="output directory (default: results/<domain>)")
    generality.set_defaults(handler=cmd_explain_generality)

    tune = commands.add_parser("finetune-explainer", help="LoRA fine-tuning of the LLM explainer "
                               "on template explanations (paper appendix C)")
    _add_domain(tune)
    _add_models(tune)
    tune.add_argument("--model", type=Path, required=True,
                      help="local directory of the Mllama base model")
    tune.add_argument("--allow-download", action="store_true",
                      help="let transformers fetch --model from a model hub")
    tune.add_argument("--per-cause", type=_positive_int, default=500,
                      help="training images per cause (default: 500)")
    tune.add_argument("--variants-per-cause", type=_non_negative_int, default=500,
                      help="frames per cause added from the fit group of cause implementations, "
                      "the field causes included (default: 500, 0: none)")
    tune.add_argument("--epochs", type=_positive_int, default=10, help="epochs (default: 10)")
    tune.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate")
    tune.add_argument("--out", type=Path, default=None,
                      help="adapter directory (default: <models>/explainer_lora)")
    tune.set_defaults(handler=cmd_finetune_explainer)

    report = commands.add_parser("calibrate-report", help="PaRCE calibration and AUROC per cause")
    _add_domain(report)
    _add_models(report)
    report.add_argument("--out", type=Path, default=None,
                        help="output directory (default: results/<domain>)")
    report.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    report.set_defaults(handler=cmd_calibrate_report)

    shift = commands.add_parser("robustness", help="competency and standard detectors under "
                                "common corruptions and unfamiliar objects on fresh renders "
                                "(tuning and held-out groups)")
    _add_domain(shift)
    _add_models(shift)
    shift.add_argument("--per-class", type=_positive_int, default=10,
                       help="fresh renders per class, shifted by every corruption and paste")
    shift.add_argument("--seed", type=int, default=0, help="seed of the random shifts")
    shift.add_argument("--out", type=Path, default=None,
                       help="output directory (default: results/<domain>)")
    shift.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    shift.set_defaults(handler=cmd_robustness)

    render = commands.add_parser("render", help="contact sheet of a domain and its degradations")
    _add_domain(render)
    render.add_argument("--out", type=Path, default=None)
    render.add_argument("--columns", type=_positive_int, default=8, help="images per row")
    render.set_defaults(handler=cmd_render)

    bench = commands.add_parser("bench", help="perception (torch vs ONNX), end-to-end latency "
                                "and memory in the ROS graph, counterfactual methods (default vs "
                                "reference) and the explainer, side by side; writes "
                                "results/bench.{md,json}")
    bench.add_argument("--domain", default="all", choices=sorted(DOMAINS) + ["all"])
    _add_models(bench, device=False)  # the targets are CPU figures
    _add_estimator(bench)
    bench.add_argument("--per-cause", type=_positive_int, default=10,
                       help="example images per cause (default: 10)")
    bench.add_argument("--triggers", type=_positive_int, default=60,
                       help="low-competency frames in the end-to-end run (default: 60)")
    bench.set_defaults(handler=cmd_bench)

    pipeline = commands.add_parser("pipeline", help="all ROS 2 nodes in one process (perception, "
                                   "counterfactual, explainer, and the sim camera when asked)")
    pipeline.add_argument("--domain", default="lunar", choices=sorted(DOMAINS))
    pipeline.add_argument("--params-file", type=Path, default=None,
                          help="node parameters (default: config/<domain>.yaml)")
    pipeline.add_argument("--sim-camera", action="store_true",
                          help="also run the scripted sim camera (publishes image_raw; never "
                          "next to a real camera on the same topic)")
    pipeline.add_argument("--namespace", default="",
                          help="namespace of every node and topic, e.g. /rover1")
    pipeline.add_argument("--duration", type=float, default=None,
                          help="stop after this many seconds (default: until Ctrl-C)")
    pipeline.set_defaults(handler=cmd_pipeline)

    onnx = commands.add_parser("export-onnx", help="export classifier + autoencoder as one ONNX "
                               "graph for the perception node's onnx backend")
    _add_domain(onnx)
    _add_models(onnx, device=False)
    _add_estimator(onnx)
    onnx.add_argument("--out", type=Path, default=None,
                      help="output file (default: <models>/competency.onnx)")
    onnx.set_defaults(handler=cmd_export_onnx)

    soak = commands.add_parser("soak", help="the graph under a fast, large camera; prints a "
                               "verdict (what `make soak` runs)")
    soak.add_argument("--domain", default="lunar", choices=sorted(DOMAINS))
    soak.add_argument("--duration", type=float, default=300.0, help="seconds (default: 300)")
    soak.add_argument("--rate", type=float, default=60.0, help="camera Hz (default: 60)")
    soak.add_argument("--size", default="1280x720", help="frame WIDTHxHEIGHT (default: 1280x720)")
    soak.add_argument("--camera-process", action="store_true",
                      help="run the camera in a process of its own (as on a robot) instead of a "
                      "thread of the graph's process")
    soak.add_argument("--executor", default="events", choices=("events", "multi"),
                      help="rclpy executor of the graph: the events executor (default) or the "
                      "multi-threaded one, to compare")
    soak.add_argument("--max-rate", type=float, default=None,
                      help="the perception node's max_rate_hz (default: the node's, 10)")
    soak.set_defaults(handler=cmd_soak)

    rec = commands.add_parser("record", help="record the graph's topics to a rosbag2 (MCAP) "
                              "directory and explanations.jsonl")
    rec.add_argument("--out", type=Path, required=True, help="output directory")
    rec.add_argument("--duration", type=float, default=None,
                     help="stop after this many seconds (default: until Ctrl-C)")
    rec.add_argument("--topics", default=None, metavar="T1,T2,...",
                     help="topics to record, comma-separated; relative names follow "
                     "--namespace, types come from the graph (default: image_raw, "
                     "image_raw/compressed, the package's outputs, /diagnostics, /tf, "
                     "/tf_static)")
    rec.add_argument("--zstd", action="store_true",
                     help="compress the MCAP file's chunks with zstd")
    rec.add_argument("--split-mb", type=float, default=None, metavar="MB",
                     help="start a new bag directory (bag_1, bag_2, ...) after this many MB")
    rec.add_argument("--split-s", type=float, default=None, metavar="S",
                     help="start a new bag directory after this many seconds of messages")
    rec.add_argument("--namespace", default="",
                     help="namespace that relative topic names are resolved in, e.g. /rover1")
    rec.set_defaults(handler=cmd_record)

    run_report = commands.add_parser(
        "report", help="run report of recordings (rosbag2 directories or .mcap files): "
        "competency timeline, low stretches, causes, gallery and a global explanation, as "
        "Markdown, PNG and one self-contained HTML page; exits 1 when a recording is damaged "
        "(its report covers the messages before the damage)")
    run_report.add_argument("bags", type=Path, nargs="+", metavar="BAG",
                            help="rosbag2 directory or .mcap file (the recorder's, or "
                            "`ros2 bag record -s mcap` of the same topics)")
    run_report.add_argument("--out", type=Path, default=None,
                            help="output directory (default: results/report/<bag name>; with "
                            "several bags, one folder per bag in it plus fleet.md)")
    _add_fleet(run_report, "reported")
    run_report.add_argument("--gallery", type=_non_negative_int, default=8,
                            help="lowest-competency triggers shown in the gallery (default: 8)")
    run_report.add_argument("--quiet", action="store_true", help="no progress bar")
    run_report.set_defaults(handler=cmd_report)

    replay = commands.add_parser(
        "replay", help="re-score every frame of recordings offline with the perception "
        "node's trigger, counterfactuals and descriptor explanations (deterministic), into a "
        "new recording with its run report; two model directories: a comparison; several "
        "bags: in parallel, with a fleet table")
    replay.add_argument("bags", type=Path, nargs="+", metavar="BAG",
                        help="rosbag2 directory or .mcap/.db3 file holding camera frames")
    replay.add_argument("--models", type=Path, action="append", required=True,
                        help="models directory (give two, or use --compare, to compare)")
    replay.add_argument("--compare", type=Path, default=None, metavar="DIR",
                        help="second models directory: a side-by-side comparison")
    replay.add_argument("--out", type=Path, default=None,
                        help="output directory (default: results/replay/<bag name>; with "
                        "several bags, one folder per bag in it plus fleet.md)")
    _add_fleet(replay, "replayed")
    _add_estimator(replay)
    replay.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    replay.add_argument("--camera-topic", default=None, metavar="T[,T...]",
                        help="camera topic(s) to replay (default: every Image on "
                        ".../image_raw, CompressedImage on .../image_raw/compressed where no raw "
                        "topic is recorded)")
    replay.add_argument("--threshold", type=float, default=None,
                        help="trigger threshold (default: the model's)")
    replay.add_argument("--hysteresis", type=float, default=0.02,
                        help="as the perception node's parameter (default: 0.02)")
    replay.add_argument("--cooldown", type=float, default=2.0,
                        help="least time between two triggers of a camera, s (default: 2.0)")
    replay.add_argument("--lgd-iterations", type=_non_negative_int, default=200,
                        help="LGD refinement iterations per trigger; 0: none (default: 200)")
    replay.add_argument("--batch", type=_positive_int, default=32,
                        help="frames scored per batch (default: 32)")
    replay.add_argument("--seed", type=int, default=0, help="seed of every trigger's work")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(handler=cmd_replay)

    demo = commands.add_parser("demo", help="live run of the whole ROS 2 graph on a scripted "
                               "drive, with recording and report (what `make demo` runs)")
    demo.add_argument("--domain", default="lunar", choices=sorted(DOMAINS))
    demo.add_argument("--out", type=Path, default=Path("demo_out"),
                      help="output directory (default: demo_out/<domain>)")
    demo.set_defaults(handler=cmd_demo)

    score = commands.add_parser("score-demo", help="score clean, degraded and anomalous images "
                                "and print competency (no ROS)")
    score.add_argument("--domain", default="all", choices=sorted(DOMAINS) + ["all"])
    _add_models(score)
    _add_estimator(score)
    score.set_defaults(handler=cmd_score_demo)

    for sub in (train, examples, report, evaluate, fit, fused, explain, generality, tune):
        sub.add_argument("--seed", type=int, default=0,
                         help="seed of training / noise draws (default: 0)")
        sub.add_argument("--no-cache", action="store_true",
                         help="render the domain afresh instead of using the dataset cache")
    render.set_defaults(no_cache=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ROS arguments (`--ros-args -p use_sim_time:=true -r a:=b`) go to rclpy, not argparse
    split = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    args.ros_args = argv[split:]
    try:
        return int(args.handler(args) or 0)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        print(f"competency-cf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
