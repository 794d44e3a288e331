"""The training stage: a dataset version -> a checkpointed run and a servable, traceable export."""
