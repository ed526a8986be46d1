"""The node's side of federated learning: DP-SGD on its own data, its Flower ClientApp."""
