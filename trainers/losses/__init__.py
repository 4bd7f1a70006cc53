"""Training losses, one file per method; ``build_criterion(LossConfig, num_classes)`` combines them."""

from .adcorre import (
    ConfusionWindow,
    embedding_discriminator,
    feature_discriminator,
    mean_discriminator,
    row_correlation,
)
from .ce import class_weights_from_counts, classification_loss
from .config import LossConfig
from .criterion import Criterion, build_criterion
from .diversity import diversity_loss, similarity_matrix
from .locality import locality_preserving_loss, neighbour_means
from .presets import LOSS_PRESETS, loss_config
from .weighted_cluster import WeightedClusterLoss

__all__ = [
    "LOSS_PRESETS",
    "loss_config",
    "LossConfig",
    "Criterion",
    "build_criterion",
    "classification_loss",
    "class_weights_from_counts",
    "row_correlation",
    "feature_discriminator",
    "mean_discriminator",
    "embedding_discriminator",
    "ConfusionWindow",
    "WeightedClusterLoss",
    "diversity_loss",
    "similarity_matrix",
    "locality_preserving_loss",
    "neighbour_means",
]
