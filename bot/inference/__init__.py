"""Inference backends behind one async interface, and the scheduler that feeds them."""
