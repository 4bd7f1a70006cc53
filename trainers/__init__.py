"""Training: models, losses, samplers, datasets and the loop (installed as fer_edge.trainers; extra [train])."""
