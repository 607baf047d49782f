"""Network definitions (plain ``nn.Module``s)."""
