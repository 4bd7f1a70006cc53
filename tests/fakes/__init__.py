"""The one helper package of the test suite: test doubles (fake ``tensorrt``, CUDA layer, rclpy, Triton
``pb_utils``), tiny models built in the test (``tiny_models``), tiny synthetic data (``tiny_fer``) and the torch
thread fixture (``torch_threads``). Import as ``from fakes.<module> import ...`` (tests/conftest.py puts
``tests/`` on the path)."""
