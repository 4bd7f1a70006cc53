"""Calibration data and INT8 calibration (installed as fer_edge.calibration; extra [export])."""
