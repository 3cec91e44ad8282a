"""Objectives scored by what users already have: the toolkit's reward-model heads, Hub or local reward models,
reward servers and reward functions (`specs`: the config; `composite.build_scorer`: one (N, K) scorer of them;
contract: reward scoring)."""
