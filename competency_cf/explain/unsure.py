"""When the descriptor explainer should say "unsure" instead of naming one cause.

Two ways the evidence can fail to support a single cause:

- **a tie:** the two most probable causes are nearly equally likely (the probability margin
  between them is small);
- **no known cause fits:** the frame's evidence lies far from every frame of the cause the head
  picked (Mahalanobis distance in the head's own input space, one mean per label, one covariance
  shared by all labels).

`UnsureRule.fit` sets both limits on frames whose cause is known, from a budget: the share of
those frames that each criterion may turn into "unsure". Nothing about causes outside the label
set goes into it, so how often such causes are answered "unsure" is a measurement, not a fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Share of known-cause frames each criterion may call unsure. Chosen on lunar's example set: the
# largest of 0.0025, 0.005, 0.01 and 0.025 that keeps its accuracy at 95 % or more without a
# counterfactual (with the field causes among the labels, 0.005 gave 94.5 %; before them, 0.005
# gave 95.3 % and 0.01 94.5 %).
DEFAULT_BUDGET = 0.0025


def cause_probabilities(probabilities: torch.Tensor, label_causes: list[str]
                        ) -> tuple[list[str], torch.Tensor]:
    """Label probabilities (N, L) summed per cause: the causes in first-seen order, (N, C)."""
    causes = list(dict.fromkeys(label_causes))
    summed = torch.zeros(len(probabilities), len(causes), dtype=probabilities.dtype)
    for column, cause in enumerate(label_causes):
        summed[:, causes.index(cause)] += probabilities[:, column]
    return causes, summed


def top_two(probabilities: torch.Tensor, label_causes: list[str]
            ) -> tuple[list[tuple[str, float, str, float]], torch.Tensor]:
    """Per row: (best cause, its probability, second cause, its probability), and the margins."""
    causes, summed = cause_probabilities(probabilities, label_causes)
    values, columns = summed.topk(2, dim=1)
    pairs = [(causes[a], float(p), causes[b], float(q))
             for (a, b), (p, q) in zip(columns.tolist(), values.tolist())]
    return pairs, values[:, 0] - values[:, 1]


@dataclass
class UnsureRule:
    """fit(head inputs, labels, probabilities per mode) -> unsure(head inputs, probabilities)."""

    means: torch.Tensor           # (labels, D) label means of the head inputs
    precision: torch.Tensor       # (D, D) inverse of the shared covariance
    distance_limit: float         # squared Mahalanobis distance beyond which nothing fits
    margin_limits: dict[str, float]  # mode -> cause-probability margin below which it is a tie
    budget: float = DEFAULT_BUDGET

    @classmethod
    def fit(cls, inputs: torch.Tensor, labels: torch.Tensor, label_count: int,
            probabilities: dict[str, torch.Tensor], label_causes: list[str],
            budget: float = DEFAULT_BUDGET, ridge: float = 1e-3) -> "UnsureRule":
        """`inputs` (N, D): the alone head's standardised inputs of known-cause frames;
        `labels` (N,) their true labels; `probabilities`: mode -> (N, L) the explainer's output
        on them in that mode."""
        if not 0.0 < budget < 0.5:
            raise ValueError(f"budget must be in (0, 0.5), got {budget}")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        present = labels.unique()
        if len(present) < 2 or len(inputs) < 4 * inputs.shape[1]:
            raise ValueError(f"the unsure rule needs frames of at least two labels and "
                             f"{4 * inputs.shape[1]} frames, got {len(present)} label(s) and "
                             f"{len(inputs)} frames")
        means = torch.zeros(label_count, inputs.shape[1], dtype=inputs.dtype)
        for label in present.tolist():
            means[label] = inputs[labels == label].mean(dim=0)
        centred = inputs - means[labels]
        covariance = centred.T @ centred / (len(inputs) - len(present))
        precision = torch.linalg.inv(covariance + ridge * torch.eye(inputs.shape[1]))
        rule = cls(means, precision, 0.0, {}, budget)
        # Each frame against the label the explainer picks, as at run time.
        picked = probabilities["alone"].argmax(dim=1)
        rule.distance_limit = float(torch.quantile(rule.distance(inputs, picked), 1.0 - budget))
        rule.margin_limits = {mode: float(torch.quantile(top_two(p, label_causes)[1], budget))
                              for mode, p in probabilities.items()}
        return rule

    def distance(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distance of each row to its label's mean."""
        centred = inputs - self.means[labels]
        return ((centred @ self.precision) * centred).sum(dim=1)

    def unsure(self, inputs: torch.Tensor, probabilities: torch.Tensor, mode: str,
               label_causes: list[str]
               ) -> tuple[torch.Tensor, list[tuple[str, float, str, float]]]:
        """(N,) bool: tie or no fit; and each row's two best causes with their probabilities."""
        pairs, margins = top_two(probabilities, label_causes)
        far = self.distance(inputs, probabilities.argmax(dim=1)) > self.distance_limit
        tie = margins < self.margin_limits.get(mode, self.margin_limits["alone"])
        return far | tie, pairs

    def to_dict(self) -> dict:
        return {"means": self.means.tolist(), "precision": self.precision.tolist(),
                "distance_limit": self.distance_limit, "margin_limits": self.margin_limits,
                "budget": self.budget}

    @classmethod
    def from_dict(cls, entries: dict) -> "UnsureRule":
        rule = cls(torch.tensor(entries["means"], dtype=torch.float32),
                   torch.tensor(entries["precision"], dtype=torch.float32),
                   float(entries["distance_limit"]),
                   {str(k): float(v) for k, v in entries["margin_limits"].items()},
                   float(entries.get("budget", DEFAULT_BUDGET)))
        if "alone" not in rule.margin_limits or rule.means.shape[1] != rule.precision.shape[0]:
            raise ValueError("unsure rule: no 'alone' margin, or means and precision differ in "
                             "size")
        return rule
