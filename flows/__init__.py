"""The worked example: the monolith's scoring pipeline, split into domains."""
