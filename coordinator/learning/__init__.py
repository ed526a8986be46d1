"""The coordinator's side of federated learning: the Flower ServerApp and its runs."""
