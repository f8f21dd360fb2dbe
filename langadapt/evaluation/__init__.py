"""Evaluation: FLORES perplexity and downstream tasks (multiple choice, extractive QA, retrieval).

Tasks are data (documents -> prompts and choices, in `tasks/`), apart from the engines that score them
(`scoring`, `generation`, `retrieval`, `perplexity`) and the metrics (`metrics`).
"""
