"""Sense adaptation of Backpack LMs (run_adaptation.py): data, training loop, evaluation, plots.

The mathematics lives in `langadapt.sense_adaptation.losses`; this package wires it to data and a training loop.
"""
