"""Test doubles shared by the deployment tests: a fake ``tensorrt`` module, a fake CUDA layer, tiny synthetic data."""
