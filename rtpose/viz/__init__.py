"""Drawing: the one overlay renderer, its colours, and the Qt window."""
