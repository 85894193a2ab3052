"""Variants of the task plans for program search (`ask --search K`): reworded leaves, confidence, a typed hole."""
