"""mlpspec's built-in components: plugins like any other, found through the entry points
declared in mlpspec's own pyproject.toml, one module per kind."""
