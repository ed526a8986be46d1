"""Differential privacy: exact integer noise samplers, mechanisms, and budget accounting."""
