"""Parallel-corpus building: OPUS and HF readers, filters, dedup, LaBSE scoring and dataset writing.

The stages run one after the other from `pipeline.build_corpus`; each streams records from the previous
stage's file and writes its own, so a crash costs only the stage that was running.
"""
