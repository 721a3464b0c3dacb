"""Paper-scale engines: verl (commands, plugin, reward), vLLM, hub data and models. Never the native engine."""
