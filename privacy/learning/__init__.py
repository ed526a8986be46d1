"""What a federated training trains: the tasks both sides agree on (model, data, score)."""
