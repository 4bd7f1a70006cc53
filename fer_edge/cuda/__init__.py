"""Device memory and streams behind one small interface (cuda-python or pycuda)."""
